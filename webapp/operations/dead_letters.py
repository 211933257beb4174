"""Dead letters: list, search, inspect, requeue and discard, one or all filtered."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flask import abort, flash, g, redirect, render_template, request
from psycopg import Connection
from werkzeug.wrappers import Response

from actors.requeue import RequeueOutcome, requeue_one
from actors.steps import declared
from db import operations
from db.dead_letters import discard, requeue_history
from db.operations import LetterFilter
from db.step_runs import runs_of_jobs
from db.users import record_audit
from domain.phones import normalise_phone
from webapp.admin.i18n import _
from webapp.db import transaction
from webapp.operations.scope import Scope, conversation_url, scoped, tenant_of_row

PAGE = 50
STATES = ("dead", "requeued", "discarded", "resolved")
SINCE = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
# "All filtered" acts on at most this many (the newest) per click, so one click cannot flood the
# queue or hold the request for long; the confirmation says so when more match.
BATCH = 500
_FIELDS = ("state", "actor", "error", "since", "q")


def _form() -> dict[str, str]:
    """The filter as the page's form holds it."""
    values = {name: request.values.get(name, "").strip()[:200] for name in _FIELDS}
    if values["state"] not in (*STATES, "all"):
        values["state"] = "dead"
    if values["since"] not in SINCE:
        values["since"] = ""
    return values


def _letter_filter(scope: Scope, form: dict[str, str]) -> LetterFilter:
    search = None
    if form["q"]:
        try:
            phone: str | None = "+" + normalise_phone(form["q"])
        except ValueError:
            phone = None
        with transaction() as conn:
            search = operations.search_targets(conn, form["q"], scope.tenant_id, phone)
    since = datetime.now(UTC) - SINCE[form["since"]] if form["since"] else None
    return LetterFilter(
        tenant_id=scope.tenant_id,
        state=None if form["state"] == "all" else form["state"],
        actor=form["actor"] or None,
        error=form["error"] or None,
        since=since,
        search=search,
    )


def _after() -> tuple[datetime, int] | None:
    """The previous page's last letter, as `at|id` in the URL."""
    at, _sep, letter_id = request.args.get("after", "").partition("|")
    try:
        return datetime.fromisoformat(at), int(letter_id)
    except ValueError:
        return None


@scoped("/dead-letters")
def dead_letters(scope: Scope) -> str:
    form = _form()
    letters = _letter_filter(scope, form)
    with transaction() as conn:
        rows = operations.dead_letter_page(conn, letters, after=_after(), limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    next_url = None
    if more:
        last = rows[-1]
        filters = {k: v for k, v in form.items() if v}
        next_url = scope.url(
            "dead_letters", **filters, after=f"{last.last_failed_at.isoformat()}|{last.id}"
        )
    return render_template(
        "operations/dead_letters.html",
        scope=scope,
        form=form,
        rows=rows,
        next_url=next_url,
        actors=sorted(declared()),
        states=STATES,
        since_choices=SINCE,
        conversation_url=conversation_url,
    )


@scoped("/dead-letters/<int:dead_letter_id>")
def dead_letter(scope: Scope, dead_letter_id: int) -> str:
    with transaction() as conn:
        letter = operations.dead_letter_in(conn, dead_letter_id, scope.tenant_id)
        if letter is None:
            abort(404)
        history = requeue_history(conn, letter.id)
        runs = runs_of_jobs(conn, [message_id for message_id, _by, _at in history])
        related_message = letter.related.get("message_id")
        traceable = (
            isinstance(related_message, int)
            and letter.tenant_id is not None
            and operations.inbound_message(conn, letter.tenant_id, related_message) is not None
        )
    tenant = tenant_of_row(scope, letter.tenant_id)
    return render_template(
        "operations/dead_letter.html",
        scope=scope,
        letter=letter,
        tenant=tenant,
        history=[(m, by, at, [r for r in runs if r.message_id == m]) for m, by, at in history],
        traceable=traceable,
        related_message=related_message,
        conversation_url=conversation_url,
    )


@scoped("/dead-letters/<int:dead_letter_id>/requeue", methods=("POST",))
def dead_letter_requeue(scope: Scope, dead_letter_id: int) -> Response:
    with transaction() as conn:
        letter = operations.dead_letter_in(conn, dead_letter_id, scope.tenant_id)
        if letter is None:
            abort(404)
        outcome = requeue_one(conn, letter.id, requeued_by=g.user.email)
        _audit(conn, letter.tenant_id, "dead_letter.requeue", letter.id, _outcome_details(outcome))
    flash(_describe(outcome), "status" if outcome.status == "requeued" else "error")
    return redirect(scope.url("dead_letter", dead_letter_id=letter.id))


@scoped("/dead-letters/<int:dead_letter_id>/discard", methods=("POST",))
def dead_letter_discard(scope: Scope, dead_letter_id: int) -> Response:
    with transaction() as conn:
        letter = operations.dead_letter_in(conn, dead_letter_id, scope.tenant_id)
        if letter is None:
            abort(404)
        discarded = discard(conn, [letter.id])
        _audit(conn, letter.tenant_id, "dead_letter.discard", letter.id, {"discarded": discarded})
    if discarded:
        flash(_("Discarded: it will not run again."), "status")
    else:
        flash(
            _(
                "Not discarded: only a dead letter can be (this one is {state}).",
                state=letter.state,
            ),
            "error",
        )
    return redirect(scope.url("dead_letter", dead_letter_id=letter.id))


def _bulk_filter(scope: Scope, form: dict[str, str]) -> LetterFilter:
    """What "all filtered" acts on: the filter's letters that are still dead."""
    return replace(_letter_filter(scope, form), state="dead")


def _action() -> str:
    action = request.values.get("action", "")
    if action not in ("requeue", "discard"):
        abort(400)
    return action


@scoped("/dead-letters/confirm")
def dead_letters_confirm(scope: Scope) -> str:
    """The confirmation before acting on all filtered: how many it will touch."""
    action = _action()
    form = _form()
    with transaction() as conn:
        matching = operations.count_dead_letters(conn, _bulk_filter(scope, form))
    return render_template(
        "operations/confirm.html",
        scope=scope,
        form=form,
        action=action,
        matching=matching,
        batch=min(matching, BATCH),
    )


@scoped("/dead-letters/bulk", methods=("POST",))
def dead_letters_bulk(scope: Scope) -> Response:
    action = _action()
    form = _form()
    letters = _bulk_filter(scope, form)
    with transaction() as conn:
        ids = operations.dead_letter_ids(conn, letters, BATCH)
    if action == "discard":
        discarded = 0
        with transaction() as conn:
            for letter_id in ids:
                letter = operations.dead_letter_in(conn, letter_id, scope.tenant_id)
                # Only the letters still dead: another person may have acted meanwhile.
                if letter is not None and discard(conn, [letter_id]):
                    discarded += 1
                    details = {"discarded": 1, "filtered": True}
                    _audit(conn, letter.tenant_id, "dead_letter.discard", letter_id, details)
        flash(_("Discarded {count} dead letters.", count=discarded), "status")
    else:
        requeued = 0
        for letter_id in ids:
            # Each in its own transaction, as the CLI does: one failing undoes none of the others.
            with transaction() as conn:
                letter = operations.dead_letter_in(conn, letter_id, scope.tenant_id)
                if letter is None:
                    continue
                outcome = requeue_one(conn, letter_id, requeued_by=g.user.email)
                done = {**_outcome_details(outcome), "filtered": True}
                _audit(conn, letter.tenant_id, "dead_letter.requeue", letter_id, done)
            requeued += outcome.status == "requeued"
        flash(
            _("Requeued {count} of {total} dead letters.", count=requeued, total=len(ids)), "status"
        )
    return redirect(scope.url("dead_letters", **{k: v for k, v in form.items() if v}))


def _audit(
    conn: Connection, tenant_id: int | None, action: str, letter_id: int | None, details: dict
) -> None:
    record_audit(
        conn,
        tenant_id=tenant_id,
        user_id=g.user.id,
        action=action,
        target=f"dead_letter:{letter_id}" if letter_id is not None else None,
        details=details,
    )


def _outcome_details(outcome: RequeueOutcome) -> dict[str, object]:
    return {"outcome": outcome.status, "message_id": outcome.message_id}


def _describe(outcome: RequeueOutcome) -> str:
    match outcome.status:
        case "requeued":
            return _("Requeued as job {job}.", job=outcome.message_id or "")
        case "already_requeued":
            return _("Already requeued by {who}; nothing done.", who=outcome.detail or "?")
        case "discarded":
            return _("Discarded earlier; not requeued.")
        case "resolved":
            return _("Already resolved; not requeued.")
        case "unknown_actor":
            return _("Its step no longer exists; left dead.")
        case "pointless":
            return _("Not requeued: {reason}; left dead.", reason=outcome.detail or "")
        case _:
            return _("Not requeued; left dead.")
