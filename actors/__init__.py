"""Dramatiq steps. Importing this package installs this process's broker and declares the steps.

Order matters: Sentry before the broker (its integration wraps the broker's middleware), the
broker before the step modules (actors bind to the broker current when they are declared).
"""

import dramatiq
from dramatiq.middleware import CurrentMessage

from actors.runtime import pool, settings
from actors.telemetry import init_sentry

init_sentry(settings)

from actors.broker import build_broker  # noqa: E402
from actors.middleware import StepJournal  # noqa: E402

# CurrentMessage lets a step that defers itself carry its retry count over.
broker = build_broker(settings, middleware=[CurrentMessage(), StepJournal(pool)])
dramatiq.set_broker(broker)

from actors import followups, ingest, plan, send  # noqa: E402, F401
