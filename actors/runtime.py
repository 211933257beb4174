"""Process-wide resources for step code: the settings (read once) and a lazily opened pool."""

import os
import threading
from typing import TYPE_CHECKING

from psycopg_pool import ConnectionPool

from actors.answer_cache import AnswerCache, make_answer_cache
from actors.clients.whatsapp import WhatsAppClient
from actors.pacing import Pacer, make_pacer
from db.pool import make_pool
from db.tenants import Tenant
from domain.settings import Settings

if TYPE_CHECKING:
    from actors.clients.llm import LLMClient

settings = Settings.from_env(os.environ)

# Set by the worker's entry point from its thread count before the pool opens.
pool_size = 12
_pool: ConnectionPool | None = None
_pool_lock = threading.Lock()


def pool() -> ConnectionPool:
    """The worker's connection pool, opened on first use (after fork, never before)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = make_pool(
                    settings.database_url,
                    application_name="recado-worker",
                    max_size=pool_size,
                    timeout=10,
                )
    return _pool


_clients: dict[tuple[str, str], WhatsAppClient] = {}
_pacer: Pacer | None = None


def whatsapp_client(tenant: Tenant) -> WhatsAppClient:
    """One client (and its connection pool) per business number and token, per process."""
    key = (tenant.wa_phone_number_id or "", tenant.wa_access_token or "")
    with _pool_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = WhatsAppClient(settings.whatsapp_api_base_url, key[0], key[1])
    return client


def pacer() -> Pacer:
    global _pacer
    if _pacer is None:
        _pacer = make_pacer(settings.redis_url)
    return _pacer


_llm: "LLMClient | None" = None
_cache: AnswerCache | None = None


def llm_client() -> "LLMClient | None":
    """The model's client; None when no key is configured (the deterministic responder
    answers)."""
    global _llm
    if settings.openai_api_key is None:
        return None
    with _pool_lock:
        if _llm is None:
            # Imported on first use: the SDK takes most of a second to load.
            from actors.clients.llm import LLMClient

            _llm = LLMClient(
                api_key=settings.openai_api_key,
                base_url=settings.openai_base_url,
                model=settings.openai_model,
                embedding_model=settings.openai_embedding_model,
                timeout=settings.llm_timeout.total_seconds(),
            )
    return _llm


def answer_cache() -> AnswerCache:
    """Redis when REDIS_URL is set, else PostgreSQL: same answers either way."""
    global _cache
    if _cache is None:
        _cache = make_answer_cache(settings, pool())
    return _cache
