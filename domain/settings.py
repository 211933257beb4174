"""Process settings, built once at each entry point from the environment and passed down."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from domain.prompt_budget import PromptBudget

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
    # A status webhook for a message id recado has not recorded waits this long for it, then is
    # purged: our own sends record theirs within seconds; older ones are another app's messages.
    pending_status_retention: timedelta = timedelta(days=7)
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
    # The assistant's model: any OpenAI-compatible endpoint. No key: the deterministic responder.
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_embedding_model: str = "text-embedding-3-small"
    llm_timeout: timedelta = timedelta(seconds=20)
    # USD per million tokens, for the spend estimate and caps; None: the built-in price list.
    llm_input_price: Decimal | None = None
    llm_output_price: Decimal | None = None
    # Answer cache: entries kept per tenant, and how close a question must be to reuse an answer.
    answer_cache_max_entries: int = 500
    answer_cache_similarity: float = 0.92
    # What of the conversation the model is sent: per message and per prompt.
    prompt_budget: PromptBudget = field(default_factory=PromptBudget)
    # Bearer token /metrics requires; None: /metrics answers loopback clients only.
    metrics_token: str | None = field(default=None, repr=False)
    # Where people reach the admin pages (one-time password links; https makes cookies Secure).
    public_url: str = "http://127.0.0.1:8000"
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none).
    proxy_hops: int = 0

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
            pending_status_retention=timedelta(
                days=float(env.get("RECADO_PENDING_STATUS_RETENTION_DAYS", "7"))
            ),
            sweep_after=timedelta(seconds=float(env.get("RECADO_SWEEP_AFTER_SECONDS", "15"))),
            delay_queue_prefetch=int(env.get("RECADO_DELAY_QUEUE_PREFETCH", "200")),
            send_evidence_wait=timedelta(
                seconds=float(env.get("RECADO_SEND_EVIDENCE_WAIT_SECONDS", "120"))
            ),
            breaker_failure_threshold=int(env.get("RECADO_BREAKER_FAILURES", "5")),
            breaker_cooldown=timedelta(
                seconds=float(env.get("RECADO_BREAKER_COOLDOWN_SECONDS", "30"))
            ),
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            openai_model=env.get("OPENAI_MODEL") or "gpt-4o-mini",
            openai_embedding_model=env.get("OPENAI_EMBEDDING_MODEL") or "text-embedding-3-small",
            llm_timeout=timedelta(seconds=float(env.get("RECADO_LLM_TIMEOUT_SECONDS", "20"))),
            llm_input_price=_decimal(env.get("RECADO_LLM_INPUT_USD_PER_MTOK")),
            llm_output_price=_decimal(env.get("RECADO_LLM_OUTPUT_USD_PER_MTOK")),
            answer_cache_max_entries=int(env.get("RECADO_ANSWER_CACHE_MAX_ENTRIES", "500")),
            answer_cache_similarity=float(env.get("RECADO_ANSWER_CACHE_SIMILARITY", "0.92")),
            prompt_budget=PromptBudget(
                message_chars=int(env.get("RECADO_PROMPT_MESSAGE_CHARS", "4000")),
                conversation_chars=int(env.get("RECADO_PROMPT_CONVERSATION_CHARS", "16000")),
            ),
            metrics_token=env.get("RECADO_METRICS_TOKEN") or None,
            public_url=(env.get("RECADO_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            proxy_hops=int(env.get("RECADO_PROXY_HOPS", "0")),
        )


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value else None
