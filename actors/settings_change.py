"""After a tenant's settings change (`recado tenants settings`, the settings page): work already
scheduled under the old values waits no longer than the new ones allow."""

from collections.abc import Collection

from psycopg import Connection

from actors.pacing import make_pacer
from actors.plan import reschedule_parked
from actors.send import readmit_paced
from db.tenants import tenant_by_id


def reschedule_after_change(
    conn: Connection[object], tenant_id: int, keys: Collection[str], redis_url: str | None
) -> tuple[int, int]:
    """(replies brought forward to the quiet window, sends paced again); `redis_url` picks the
    pacer the workers use. Call it in the transaction that changed the settings."""
    tenant = tenant_by_id(conn, tenant_id)
    if tenant is None:
        raise LookupError(f"no tenant {tenant_id}")
    replies = reschedule_parked(conn, tenant)
    sends = readmit_paced(conn, tenant, make_pacer(redis_url)) if "pacing" in keys else 0
    return replies, sends
