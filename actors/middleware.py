"""Step journal: every attempt in step_runs; every final failure in dead_letters and Sentry."""

import logging
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dramatiq
import sentry_sdk
from psycopg_pool import ConnectionPool

from db.dead_letters import Failure, mark_resolved, mark_unsettled, record_failure
from db.step_runs import StepSubject, record_step_run
from domain.scrub import scrub_text

logger = logging.getLogger(__name__)

# Set on a requeued message so its next failure revives the same dead letter.
DEAD_LETTER_OPTION = "recado_dead_letter_id"
# A step that returns without doing its work (the message it should send is failed) says why
# under this annotation: its dead letter is then not resolved.
UNSETTLED = "unsettled"

_ids = threading.local()


def annotate(**ids: int | str | None) -> None:
    """Attach tenant, conversation and related ids to the current step's failure record."""
    current = getattr(_ids, "values", None)
    if current is None:
        current = _ids.values = {}
    current.update({key: value for key, value in ids.items() if value is not None})


class StepJournal(dramatiq.Middleware):
    def __init__(self, pool: Callable[[], ConnectionPool]) -> None:
        self._pool = pool

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        _ids.values = {}
        message.recado_started_at = datetime.now(UTC)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        ids = dict(getattr(_ids, "values", None) or {})
        _ids.values = {}
        # The exception that ends the message for good (no retry left, or one it cannot take).
        failure = exception if exception is not None and message.failed else None
        outcome = "ok" if exception is None else ("failed" if failure is not None else "retry")
        attempt = _attempt(broker, message, exception)
        dead_letter_from = message.options.get(DEAD_LETTER_OPTION)
        try:
            with self._pool().connection() as conn:
                record_step_run(
                    conn,
                    actor=message.actor_name,
                    message_id=message.message_id,
                    attempt=attempt,
                    started_at=getattr(message, "recado_started_at", datetime.now(UTC)),
                    outcome=outcome,
                    error=_describe(exception) if exception else None,
                    ready_at=_ready_at(message),
                    subject=_subject(ids),
                )
                # A step that only deferred itself has not settled its dead letter yet; one
                # that could not do its work leaves it dead, saying why.
                if exception is None and dead_letter_from is not None and "deferred" not in ids:
                    if UNSETTLED in ids:
                        mark_unsettled(conn, dead_letter_from, str(ids[UNSETTLED]))
                    else:
                        mark_resolved(conn, dead_letter_from)
                dead_letter_id = None
                if failure is not None:
                    dead_letter_id = record_failure(
                        conn, _failure(message, failure, attempt, ids), dead_letter_from
                    )
        except Exception:
            # The journal itself failed (database gone): the broker row keeps the traceback
            # ('rejected'), and the operator still hears about it here and in Sentry.
            logger.exception("could not journal %s %s", message.actor_name, message.message_id)
            sentry_sdk.capture_exception()
            return
        if failure is not None and dead_letter_id is not None:
            logger.error(
                "dead letter %s: %s(%s) failed for good after %s attempts: %s",
                dead_letter_id,
                message.actor_name,
                message.args,
                attempt,
                _describe(failure),
            )
            with sentry_sdk.new_scope() as scope:
                scope.set_tag("actor", message.actor_name)
                scope.set_tag("dead_letter_id", str(dead_letter_id))
                for key, value in ids.items():
                    scope.set_tag(key, str(value))
                sentry_sdk.capture_exception(failure)


def _attempt(broker: dramatiq.Broker, message: Any, exception: BaseException | None) -> int:
    # Retries, which runs before this middleware, has already counted a failure it did not
    # abort through `throws`.
    throws = message.options.get("throws") or broker.get_actor(message.actor_name).options.get(
        "throws"
    )
    counted = exception is not None and not (throws and isinstance(exception, throws))
    return message.options.get("retries", 0) + (0 if counted else 1)


def _ready_at(message: Any) -> datetime:
    """When the job could first run: a delayed job or a retry waits for its eta, not in line."""
    millis = message.options.get("eta") or message.message_timestamp
    return datetime.fromtimestamp(millis / 1000, UTC)


def _subject(ids: dict) -> StepSubject:
    """The tenant, message and inbound event the step annotated: the run trace follows them."""

    def whole(key: str) -> int | None:
        value = ids.get(key)
        return value if isinstance(value, int) else None

    return StepSubject(whole("tenant_id"), whole("message_id"), whole("inbound_event_id"))


def _describe(exception: BaseException) -> str:
    return scrub_text(f"{type(exception).__name__}: {exception}")[:2000]


def _failure(message: Any, exception: BaseException, attempts: int, ids: dict) -> Failure:
    related = dict(ids)
    tenant_id = related.pop("tenant_id", None)
    conversation_id = related.pop("conversation_id", None)
    return Failure(
        message_id=message.message_id,
        queue_name=message.queue_name,
        actor=message.actor_name,
        args=list(message.args),
        kwargs=dict(message.kwargs),
        attempts=attempts,
        exception_type=f"{type(exception).__module__}.{type(exception).__qualname__}",
        exception_text=scrub_text(str(exception))[:2000],
        traceback=scrub_text("".join(traceback.format_exception(exception))),
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        related=related,
    )
