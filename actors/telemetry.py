"""Sentry, initialised before the broker so its Dramatiq integration wraps every actor."""

from typing import Final

import sentry_sdk
from sentry_sdk.integrations.dramatiq import DramatiqIntegration
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.types import Event, Hint

from domain.scrub import scrub
from domain.settings import Settings

# Parts of an event that can carry customer data; ids and trace contexts are left intact.
_SCRUBBED_SECTIONS: Final = (
    "exception",
    "message",
    "logentry",
    "breadcrumbs",
    "extra",
    "request",
    "tags",
)


def init_sentry(settings: Settings) -> None:
    if not settings.sentry_dsn:
        return
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment,
        integrations=[FlaskIntegration(), DramatiqIntegration()],
        # No personal data is the default; `send_default_pii` is deprecated, and `data_collection`
        # would switch off the SDK's own event scrubber.
        # Webhook bodies and stack locals hold chat text and phone numbers.
        max_request_body_size="never",
        include_local_variables=False,
        before_send=before_send,
    )
    # dramatiq logs every failed attempt at ERROR; the dead-letter middleware reports the final
    # failure once, so these log records must not become events of their own.
    ignore_logger("dramatiq.worker.WorkerThread")


def before_send(event: Event, hint: Hint) -> Event | None:
    # The Dramatiq integration reports every failed attempt; a retried attempt is not an
    # incident. The dead-letter middleware reports the final failure once, with its ids.
    for exception in event.get("exception", {}).get("values", []):
        if exception.get("mechanism", {}).get("type") == "dramatiq":
            return None
    for exception in event.get("exception", {}).get("values", []):
        # PostgreSQL's DETAIL and CONTEXT lines can quote row values (chat text).
        if isinstance(exception.get("value"), str):
            exception["value"] = exception["value"].split("\n", 1)[0]
    for key in _SCRUBBED_SECTIONS:
        if key in event:
            event[key] = scrub(event[key])
    return event
