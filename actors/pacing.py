"""Where pacing state lives: Redis when REDIS_URL is set, PostgreSQL otherwise."""

from datetime import timedelta
from typing import Protocol

import redis
from psycopg import Connection

from db.pacing import take_slot
from domain.pacing import Rate

# GCRA (domain/pacing.py) in one atomic script, on Redis's own clock so every worker agrees.
_TAKE = """
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - tolerance > now then return tat - tolerance - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


class Pacer(Protocol):
    def take(self, conn: Connection, key: str, rate: Rate) -> timedelta | None:
        """None when a send may go now; else how long until it may."""
        ...


class PostgresPacer:
    def take(self, conn: Connection, key: str, rate: Rate) -> timedelta | None:
        return take_slot(conn, key, rate)


class RedisPacer:
    def __init__(self, client: redis.Redis) -> None:
        self._script = client.register_script(_TAKE)

    def take(self, conn: Connection, key: str, rate: Rate) -> timedelta | None:
        micros = self._script(
            keys=[f"recado:pace:{key}"],
            args=[_micros(rate.interval), _micros(rate.tolerance)],
        )
        return timedelta(microseconds=int(micros)) if int(micros) > 0 else None


def _micros(value: timedelta) -> int:
    return round(value / timedelta(microseconds=1))


def make_pacer(redis_url: str | None) -> Pacer:
    if redis_url is None:
        return PostgresPacer()
    return RedisPacer(redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2))
