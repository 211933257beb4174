"""Where pacing state lives: Redis when REDIS_URL is set, PostgreSQL otherwise."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import redis
from psycopg import Connection

from db.pacing import forget_slots, take_slots
from domain.pacing import Rate

# GCRA (domain/pacing.py) over several keys in one atomic script, all or nothing, on Redis's
# own clock so every worker agrees. ARGV holds interval and tolerance (µs) per key.
_TAKE = """
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local wait = 0
local new_tats = {}
for i, key in ipairs(KEYS) do
    local interval = tonumber(ARGV[2 * i - 1])
    local tolerance = tonumber(ARGV[2 * i])
    local tat = tonumber(redis.call('GET', key) or now)
    if tat < now then tat = now end
    if tat - tolerance > now then
        wait = math.max(wait, tat - tolerance - now)
    end
    new_tats[i] = tat + interval
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
    redis.call('SET', key, new_tats[i], 'PX', math.ceil((new_tats[i] - now) / 1000) + 1000)
end
return 0
"""


_PREFIX = "recado:pace:"


class Pacer(Protocol):
    def take(self, conn: Connection[object], slots: Sequence[tuple[str, Rate]]) -> timedelta | None:
        """None when every slot is free now (all are taken); else the longest wait, and
        nothing is spent."""
        ...

    def forget(self, conn: Connection[object], prefix: str, keys: Sequence[str]) -> None:
        """Pace `keys`, and every key starting with `prefix`, from scratch."""
        ...


class PostgresPacer:
    def take(self, conn: Connection[object], slots: Sequence[tuple[str, Rate]]) -> timedelta | None:
        return take_slots(conn, slots)

    def forget(self, conn: Connection[object], prefix: str, keys: Sequence[str]) -> None:
        forget_slots(conn, prefix, keys)


class RedisPacer:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._script = client.register_script(_TAKE)

    def take(self, conn: Connection[object], slots: Sequence[tuple[str, Rate]]) -> timedelta | None:
        args: list[int] = []
        for _, rate in slots:
            args += [_micros(rate.interval), _micros(rate.tolerance)]
        micros = int(self._script(keys=[f"{_PREFIX}{key}" for key, _ in slots], args=args))
        return timedelta(microseconds=micros) if micros > 0 else None

    def forget(self, conn: Connection[object], prefix: str, keys: Sequence[str]) -> None:
        # Key names hold ids and digits only, never glob characters.
        matched = list(self._client.scan_iter(match=f"{_PREFIX}{prefix}*", count=1000))
        doomed = matched + [f"{_PREFIX}{key}" for key in keys]
        if doomed:
            self._client.delete(*doomed)


def _micros(value: timedelta) -> int:
    return round(value / timedelta(microseconds=1))


def make_pacer(redis_url: str | None) -> Pacer:
    if redis_url is None:
        return PostgresPacer()
    return RedisPacer(redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2))
