"""Where steps are declared: at import, on a placeholder; bound to a real broker by bootstrap.

`@dramatiq.actor` without `broker=` binds to `dramatiq.get_broker()`, which, with no broker set,
builds a RabbitMQ or Redis broker: a side effect of importing a module. Steps are declared here
instead, on a broker that never queues or runs anything. Their names, queues and options are
known at import, so `actor.message(...)` (which needs no broker) works anywhere, e.g. in the
transactional enqueue of actors/chain.py; `bind` moves them onto the process's broker.
"""

import importlib
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Prometheus, default_middleware

# The application's steps: importing these declares them all.
STEP_MODULES = ("actors.ingest", "actors.plan", "actors.send", "actors.followups")

# The real broker's middleware, so dramatiq validates each step's options at declaration.
_DECLARED = StubBroker(middleware=[m() for m in default_middleware if m is not Prometheus])


def step(**options: Any) -> Callable[[Callable[..., None]], dramatiq.Actor]:
    """`@dramatiq.actor(**options)`, declared on the placeholder until `bind`."""
    return dramatiq.actor(broker=_DECLARED, **options)


def declared() -> dict[str, dramatiq.Actor]:
    """Every step declared so far, the application's included, by name."""
    for module in STEP_MODULES:
        importlib.import_module(module)
    return dict(_DECLARED.actors)


def bind(broker: dramatiq.Broker) -> None:
    """Declare the steps declared so far on `broker`; their `send()` would use it."""
    for actor in list(_DECLARED.actors.values()):
        actor.broker = broker
        broker.declare_actor(actor)
