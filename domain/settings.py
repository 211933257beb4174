"""Process settings, built once at each entry point from the environment and passed down."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

GRAPH_API_BASE_URL = "https://graph.facebook.com/v24.0"


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None = None
    sentry_dsn: str | None = None
    sentry_environment: str = "production"
    whatsapp_api_base_url: str = GRAPH_API_BASE_URL
    secret_key: str | None = None
    # Finished broker rows are kept this long for inspection, then purged.
    queue_retention: timedelta = timedelta(days=7)
    # A queued or consumed broker row untouched for this long is announced again to workers.
    sweep_after: timedelta = timedelta(seconds=15)
    # Keeps advisory locks bounded while many messages wait in retry backoff.
    delay_queue_prefetch: int = 200
    # After a send whose outcome is unknown, how long to wait for a status webhook proving the
    # provider accepted it before sending again.
    send_evidence_wait: timedelta = timedelta(seconds=120)
    # Circuit breaker per tenant and channel.
    breaker_failure_threshold: int = 5
    breaker_cooldown: timedelta = timedelta(seconds=30)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        database_url = env.get("DATABASE_URL", "").strip()
        if not database_url:
            raise ValueError("DATABASE_URL is not set")
        return cls(
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            sentry_dsn=env.get("SENTRY_DSN") or None,
            sentry_environment=env.get("SENTRY_ENVIRONMENT", "production"),
            whatsapp_api_base_url=env.get("WHATSAPP_API_BASE_URL") or GRAPH_API_BASE_URL,
            secret_key=env.get("RECADO_SECRET_KEY") or None,
            queue_retention=timedelta(days=float(env.get("RECADO_QUEUE_RETENTION_DAYS", "7"))),
            sweep_after=timedelta(seconds=float(env.get("RECADO_SWEEP_AFTER_SECONDS", "15"))),
            delay_queue_prefetch=int(env.get("RECADO_DELAY_QUEUE_PREFETCH", "200")),
            send_evidence_wait=timedelta(
                seconds=float(env.get("RECADO_SEND_EVIDENCE_WAIT_SECONDS", "120"))
            ),
            breaker_failure_threshold=int(env.get("RECADO_BREAKER_FAILURES", "5")),
            breaker_cooldown=timedelta(
                seconds=float(env.get("RECADO_BREAKER_COOLDOWN_SECONDS", "30"))
            ),
        )
