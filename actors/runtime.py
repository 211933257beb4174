"""A process's services: built once by `actors.bootstrap.bootstrap` and passed to what needs them.

Steps receive a Runtime as an argument. The actor shells (the functions Dramatiq calls) take it
from `installed()`: the one Runtime a worker process installed at start-up.
"""

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from psycopg_pool import ConnectionPool

from actors.answer_cache import AnswerCache, make_answer_cache
from actors.clients.whatsapp import WhatsAppClient
from actors.pacing import Pacer, make_pacer
from db.pool import make_pool
from db.tenants import Tenant
from domain.settings import Settings

if TYPE_CHECKING:
    import dramatiq

    from actors.clients.llm import ChatResult


class Sender(Protocol):
    """What the send steps need of a channel client (actors/clients/whatsapp.py)."""

    def send(self, request: dict) -> str: ...

    def mark_read(self, message_id: str, *, typing: bool) -> None: ...


class Model(Protocol):
    """What the assistant's steps need of the model (actors/clients/llm.py)."""

    def chat(self, messages: list[dict], tool: dict) -> "ChatResult": ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class Runtime:
    """Settings plus the pool, channel clients, model, pacer and cache built from them.

    Each service is made on first use (the pool after fork, never before; the LLM SDK, slow to
    import, only by processes that call the model). `senders` and `llm` replace the channel
    clients and the model, for tests that keep the network out.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        name: str = "recado-worker",
        pool_size: int = 12,
        pool_timeout: float = 10.0,
        senders: Callable[[Tenant], Sender] | None = None,
        llm: Callable[[], Model | None] | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.pool_size = pool_size
        self.pool_timeout = pool_timeout
        # Set by bootstrap. A Runtime built by hand (a test's) has none: steps queue their
        # successors on their own connection (actors/chain.py), never through a broker.
        self.broker: dramatiq.Broker | None = None
        self._senders = senders
        self._make_llm = llm or self._default_llm
        self._lock = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._clients: dict[tuple[str, str], Sender] = {}
        self._pacer: Pacer | None = None
        self._llm: Model | None = None
        self._llm_made = False
        self._cache: AnswerCache | None = None

    def pool(self) -> ConnectionPool:
        """The process's connection pool, opened on first use."""
        with self._lock:
            if self._pool is None:
                self._pool = make_pool(
                    self.settings.database_url,
                    application_name=self.name,
                    max_size=self.pool_size,
                    timeout=self.pool_timeout,
                )
            return self._pool

    def whatsapp_client(self, tenant: Tenant) -> Sender:
        """One client (and its connection pool) per business number and token."""
        if self._senders is not None:
            return self._senders(tenant)
        key = (tenant.wa_phone_number_id or "", tenant.wa_access_token or "")
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = WhatsAppClient(
                    self.settings.whatsapp_api_base_url, key[0], key[1]
                )
        return client

    def pacer(self) -> Pacer:
        with self._lock:
            if self._pacer is None:
                self._pacer = make_pacer(self.settings.redis_url)
            return self._pacer

    def llm_client(self) -> Model | None:
        """The model's client; None when no key is configured (the deterministic responder
        answers)."""
        with self._lock:
            if not self._llm_made:
                self._llm = self._make_llm()
                self._llm_made = True
            return self._llm

    def answer_cache(self) -> AnswerCache:
        """Redis when REDIS_URL is set, else PostgreSQL: same answers either way."""
        pool = self.pool()
        with self._lock:
            if self._cache is None:
                self._cache = make_answer_cache(self.settings, pool)
            return self._cache

    def close_clients(self) -> None:
        """Close the HTTP clients this runtime made (channel senders, model) and their kept-alive
        connections; the next use makes new ones."""
        with self._lock:
            made = [*self._clients.values(), self._llm]
            self._clients, self._llm, self._llm_made = {}, None, False
        for client in made:
            close = getattr(client, "close", None)
            if close is not None:
                close()

    def close(self) -> None:
        self.close_clients()
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def _default_llm(self) -> Model | None:
        settings = self.settings
        if settings.openai_api_key is None:
            return None
        # Imported on first use: the SDK takes most of a second to load.
        from actors.clients.llm import LLMClient

        return LLMClient(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            embedding_model=settings.openai_embedding_model,
            timeout=settings.llm_timeout.total_seconds(),
        )


_installed: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Make `runtime` the one this process's actor shells hand to their steps."""
    global _installed
    _installed = runtime


def installed() -> Runtime:
    if _installed is None:
        raise RuntimeError("no Runtime installed: the process entry point must bootstrap one")
    return _installed
