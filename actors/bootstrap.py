"""The composition root: what each entry point (gunicorn app, worker, CLI, tests, benchmarks)
calls, once, with the settings it read from the environment, also once."""

from collections.abc import Sequence

from dramatiq.middleware import CurrentMessage, Middleware

from actors import plan, steps
from actors.broker import build_broker
from actors.middleware import StepJournal
from actors.runtime import Runtime, install
from actors.telemetry import init_sentry
from domain.settings import Settings


def bootstrap(
    settings: Settings,
    *,
    name: str = "recado-worker",
    pool_size: int = 12,
    pool_timeout: float = 10.0,
    middleware: Sequence[Middleware] | None = None,
) -> Runtime:
    """Sentry, then the services and the broker. No I/O: connections open on first use.

    Sentry comes first: its Dramatiq integration wraps the middleware of brokers built after it.
    `middleware` replaces the step journal (the broker's load tests measure it bare).
    """
    init_sentry(settings)
    runtime = Runtime(settings, name=name, pool_size=pool_size, pool_timeout=pool_timeout)
    # CurrentMessage lets a step that defers itself carry its retry count over.
    journal = [CurrentMessage(), StepJournal(runtime.pool)] if middleware is None else middleware
    runtime.broker = build_broker(settings, middleware=journal)
    return runtime


def serve_steps(runtime: Runtime) -> None:
    """This process runs steps: they join `runtime.broker` and receive `runtime`."""
    assert runtime.broker is not None
    plan.plan_reply.options["time_limit"] = plan.time_limit_ms(runtime.settings.llm_timeout)
    # Imports the application's steps, so they are bound with any declared already.
    steps.declared()
    steps.bind(runtime.broker)
    install(runtime)
