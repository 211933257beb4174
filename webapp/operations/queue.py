"""The queue: backlogs, throughput, circuit breakers and paused sending; the operator's overview."""

from datetime import UTC, datetime

from flask import flash, g, redirect, render_template, request
from werkzeug.wrappers import Response

from actors.requeue import resume_sending
from db import operations
from db.breakers import close_breaker, read_breaker
from db.broker_queue import stats
from db.dead_letters import unsettled_counts
from db.step_runs import finished_counts
from db.tenants import Tenant
from db.users import record_audit
from domain.breaker import BreakerState
from webapp.admin.access import ROLES_OWNER, operator_view, tenant_view
from webapp.admin.i18n import _
from webapp.db import transaction
from webapp.operations.scope import Scope, blueprint, scoped


@scoped("/queue")
def queue(scope: Scope) -> str:
    across = not scope.in_url and scope.tenant is None
    with transaction() as conn:
        health = operations.tenant_health(conn, scope.tenant_id)
        throughput = finished_counts(conn, scope.tenant_id)
        breaker_rows = operations.breakers(conn, scope.tenant_id)
        # The broker's table has no tenant: operators only, and only unfiltered.
        broker = stats(conn) if across else []
    queued = [row.oldest for row in broker if row.state == "queued"]
    return render_template(
        "operations/queue.html",
        scope=scope,
        health=health,
        throughput=throughput,
        breakers=breaker_rows,
        broker=broker,
        oldest_queued=min(queued) if queued else None,
        now=datetime.now(UTC),
    )


@blueprint.get("/ops")
@operator_view
def overview() -> str:
    with transaction() as conn:
        health = operations.tenant_health(conn, None)
        letters = unsettled_counts(conn)
        throughput = finished_counts(conn, None)
    return render_template(
        "operations/overview.html",
        health=health,
        letters=letters,
        throughput=throughput,
        now=datetime.now(UTC),
    )


def _back(tenant: Tenant) -> Response:
    """To the page the form came from: the tenant's queue, or the operators' pages."""
    target = request.form.get("next", "")
    allowed = target.startswith(("/ops", f"/t/{tenant.slug}/")) and "//" not in target
    return redirect(target if allowed else f"/t/{tenant.slug}/queue")


@blueprint.post("/t/<slug>/queue/breakers/<channel>/resume")
@tenant_view(ROLES_OWNER)
def breaker_resume(tenant: Tenant, channel: str) -> Response:
    """Close an open breaker now: the next send goes out instead of waiting out the cool-down."""
    with transaction() as conn:
        breaker = read_breaker(conn, tenant.id, channel)
        if breaker.state == BreakerState.CLOSED and breaker.failures == 0:
            flash(_("That breaker is already closed."), "status")
            return _back(tenant)
        close_breaker(conn, tenant.id, channel)
        record_audit(
            conn,
            tenant_id=tenant.id,
            user_id=g.user.id,
            action="breaker.resume",
            target=f"breaker:{channel}",
            details={"was": breaker.state.value, "failures": breaker.failures},
        )
    flash(_("Breaker closed: sending on {channel} resumes.", channel=channel), "status")
    return _back(tenant)


@blueprint.post("/t/<slug>/queue/resume-sending")
@tenant_view(ROLES_OWNER)
def sending_resume(tenant: Tenant) -> Response:
    """Resume paused sending (after the token was fixed), as `recado tenants resume` does."""
    if tenant.sending_paused_at is None:
        flash(_("Sending is not paused."), "status")
        return _back(tenant)
    with transaction() as conn:
        requeued = resume_sending(conn, tenant, requeued_by=g.user.email)
        record_audit(
            conn,
            tenant_id=tenant.id,
            user_id=g.user.id,
            action="sending.resume",
            target=f"tenant:{tenant.slug}",
            details={"requeued": requeued, "paused_reason": tenant.sending_paused_reason},
        )
    flash(_("Sending resumed; {count} waiting sends requeued.", count=requeued), "status")
    return _back(tenant)
