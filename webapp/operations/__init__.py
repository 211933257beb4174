"""Operations pages: dead letters, quarantine, the queue and the run trace of a message.

Owners see their own tenant's under /t/<slug>/...; operators see every tenant's under /ops/...,
with a tenant filter: the same views and templates in a different `Scope` (scope.py).
"""

# The route modules register their views on the blueprint when imported.
from webapp.operations import dead_letters, quarantine, queue, trace
from webapp.operations.scope import blueprint

__all__ = ["blueprint", "dead_letters", "quarantine", "queue", "trace"]
