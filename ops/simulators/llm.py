"""A local OpenAI-compatible API for tests, benchmarks and demos, over real HTTP.

It answers `POST /v1/chat/completions`, `POST /v1/embeddings` and `GET /v1/models` in OpenAI's
shapes, deterministically from the request: the reply answers the customer's unanswered messages
from the business profile in recado's system message, in their language and the profile's tone
(llm_answers.py; a prompt without a profile gets its messages echoed back), the intent comes from
keywords, and embeddings are hashed bags of words, so two runs of the same conversation get the
same answers. Faults (rate limits, server errors, hangs, dropped
connections, malformed output, exhausted quota) are injected at a seeded random rate or by a
script for the next calls.

Other processes steer it over HTTP: `GET /_simulator/log` lists the calls made,
`POST /_simulator/config` changes latency, faults, the script and more while it runs.
"""

import hashlib
import itertools
import json
import math
import random
import re
import struct
import threading
import time
import unicodedata
from base64 import b64encode
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from domain.conversation import Intent
from ops.simulators.llm_answers import profile_reply
from ops.simulators.server import SimulatorServer

Json = dict[str, Any]

LOG_PATH = "/_simulator/log"
CONFIG_PATH = "/_simulator/config"
CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
FAULTS = ("429", "500", "timeout", "drop", "malformed", "garbled", "quota")
# What a flaky provider does; 'quota' needs a person and 'garbled' a broken proxy: opt-in.
RANDOM_FAULTS = ("429", "500", "timeout", "drop", "malformed")
# A prompt without a business profile (a bare client's) gets its messages back after this.
REPLY_PREFIX = "Simulated reply:"
LOW_CONFIDENCE_MARKER = "[low-confidence]"
EMBEDDING_DIMENSIONS = 256
DEFAULT_MODELS = ("recado-sim", "recado-sim-embedding")
MAX_BODY_BYTES = 4 << 20
_MAX_REPLY_CHARS = 600
# Real embedding models are anisotropic: unrelated texts still score above zero. A fixed share
# of every vector in one common direction reproduces that, and lifts near-duplicates with it.
_COMMON_SHARE = 0.15
_WORD = re.compile(r"\w+")
# Checked in this order: asking for a person or complaining outranks everything else.
_INTENT_KEYWORDS: tuple[tuple[Intent, re.Pattern[str]], ...] = tuple(
    (intent, re.compile(pattern))
    for intent, pattern in (
        (Intent.HUMAN, r"\b(human|persona|agente|agent\b)"),
        (Intent.COMPLAINT, r"\b(queja|complaint|terrible)"),
        (Intent.CANCEL, r"\bcancel"),
        (Intent.RESCHEDULE, r"\b(reschedul|cambiar)"),
        (Intent.BOOK, r"\b(cita|book|appointment|agendar)"),
        (Intent.PRICE, r"\b(precio|cuanto|price|how much)"),
        (Intent.QUESTION, r"\?"),
        (Intent.GREETING, r"\b(hola|hi|hello)\b"),
    )
)


@dataclass(frozen=True)
class LlmSimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port; see LlmSimulator.url
    latency_ms: int = 0  # added before answering every API call
    fault_rate: float = 0.0  # probability per API call of one fault drawn from `faults`
    faults: tuple[str, ...] = RANDOM_FAULTS
    seed: int | None = None
    hang_seconds: float = 30.0  # how long a 'timeout' fault holds the connection before closing
    retry_after_seconds: int = 1  # the Retry-After header of a '429'
    reject_keys: frozenset[str] = frozenset()  # API keys answered with 401; any other is accepted
    models: frozenset[str] | None = None  # None: any model name is accepted
    # Answer tool requests with the JSON in a ```json block of the content instead of a tool
    # call, as some compatible servers and models do whatever tool_choice says.
    tools_as_content: bool = False
    echo: Callable[[str], None] | None = field(default=None, compare=False)  # one line per call

    def __post_init__(self) -> None:
        _check_faults(self.faults)
        if not 0 <= self.fault_rate <= 1:
            raise ValueError("fault_rate is a probability between 0 and 1")
        if self.fault_rate and not self.faults:
            raise ValueError("fault_rate needs at least one fault to draw from")
        if self.latency_ms < 0 or self.hang_seconds < 0 or self.retry_after_seconds < 0:
            raise ValueError("latency_ms, hang_seconds and retry_after_seconds are not negative")


# What configure() and POST /_simulator/config may change while the simulator runs.
ADJUSTABLE = frozenset(
    {
        "latency_ms",
        "fault_rate",
        "faults",
        "seed",
        "hang_seconds",
        "retry_after_seconds",
        "reject_keys",
        "models",
        "tools_as_content",
    }
)


@dataclass(frozen=True)
class LlmCall:
    path: str
    model: str | None
    status: int | None  # None: no answer reached the client ('timeout', 'drop')
    fault: str | None
    mode: str | None  # 'tool', 'json' or 'text' for chat, 'embeddings'
    # Chat: the customer's messages after the last assistant message.
    user_texts: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # embeddings: the texts embedded
    at: float = 0.0  # wall clock, Unix seconds


@dataclass(frozen=True)
class _Outcome:
    status: int
    body: Json | bytes  # bytes: sent as they are
    fault: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    latency_s: float = 0.0
    hang_s: float = 0.0


class LlmSimulator:
    """Start with `start()` or `with`; `url` is the base URL clients use (it ends in /v1)."""

    def __init__(self, config: LlmSimulatorConfig | None = None) -> None:
        self._config = config or LlmSimulatorConfig()
        self._lock = threading.Lock()
        self._rng = random.Random(self._config.seed)
        self._script: list[str] = []
        self._calls: list[LlmCall] = []
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        self._server = SimulatorServer((self._config.host, self._config.port), _Handler, self)
        # A short poll keeps stop() quick; the default half second adds up in test suites.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="llm-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; held 'timeout' answers are released and their connections closed."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # a TCP server's address: text, never bytes
        return f"http://{host}:{port}/v1"

    # --- steering and what happened --------------------------------------------------------

    @property
    def config(self) -> LlmSimulatorConfig:
        with self._lock:
            return self._config

    def configure(self, **changes: Any) -> LlmSimulatorConfig:
        """Change ADJUSTABLE settings of the running simulator; a new seed restarts its RNG."""
        unknown = set(changes) - ADJUSTABLE
        if unknown:
            raise ValueError(
                f"cannot change {sorted(unknown)}: adjustable are {sorted(ADJUSTABLE)}"
            )
        with self._lock:
            self._config = replace(self._config, **changes)
            if "seed" in changes:
                self._rng = random.Random(self._config.seed)
            return self._config

    def script(self, faults: Iterable[str]) -> None:
        """The next calls get these faults, one each, in order (replacing any pending script)."""
        planned = list(faults)
        _check_faults(planned)
        with self._lock:
            self._script = planned

    @property
    def calls(self) -> list[LlmCall]:
        with self._lock:
            return list(self._calls)

    def log_document(self) -> Json:
        """What GET /_simulator/log answers."""
        with self._lock:
            calls = [asdict(call) for call in self._calls]
        return {"calls": calls, "config": self.config_document()}

    def config_document(self) -> Json:
        with self._lock:
            config, script = self._config, list(self._script)
        document: Json = {}
        for name in sorted(ADJUSTABLE):
            value = getattr(config, name)
            document[name] = sorted(value) if isinstance(value, frozenset) else value
        document["script"] = script
        return document

    def _apply_config_document(self, document: Any) -> None:
        """POST /_simulator/config: the JSON form of configure() plus `script`."""
        if not isinstance(document, dict):
            raise ValueError("the configuration must be a JSON object")
        changes = dict(document)
        script = changes.pop("script", None)
        if script is not None:
            _check_faults(_strings(script, "script"))  # all or nothing: checked before any change
        if "faults" in changes:
            changes["faults"] = tuple(_strings(changes["faults"], "faults"))
        for name in ("reject_keys", "models"):
            if changes.get(name) is not None:
                changes[name] = frozenset(_strings(changes[name], name))
        try:
            self.configure(**changes)
        except TypeError as exc:  # a value of the wrong type reached the dataclass check
            raise ValueError(str(exc)) from exc
        if script is not None:
            self.script(script)

    # --- API calls ------------------------------------------------------------------------

    def _respond(self, path: str, authorization: str | None, raw: bytes) -> _Outcome:
        config = self.config
        if path not in (CHAT_PATH, EMBEDDINGS_PATH):
            return self._reject(LlmCall(path, None, 404, None, None), _invalid_url("POST", path))
        key = _bearer(authorization)
        if key is None or key in config.reject_keys:
            return self._reject(LlmCall(path, None, 401, None, None), _unauthorized(key))
        try:
            request = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            request = None
        if not isinstance(request, dict):
            error = _error("We could not parse the JSON body of your request.", None)
            return self._reject(LlmCall(path, None, 400, None, None), error)
        model = request.get("model")
        chat = path == CHAT_PATH
        problem = _chat_problem(request) if chat else _embeddings_problem(request)
        if problem is not None:
            model = model if isinstance(model, str) else None
            return self._reject(LlmCall(path, model, 400, None, None), problem)
        assert isinstance(model, str)  # both request checks above require one
        if config.models is not None and model not in config.models:
            return self._reject(LlmCall(path, model, 404, None, None), _model_not_found(model))

        fault = self._next_fault(config)
        outcome = _fault_outcome(fault, config)
        if chat:
            call = LlmCall(
                path,
                model,
                outcome.status if outcome else 200,
                fault,
                _chat_mode(request),
                user_texts=tuple(_trailing_user_texts(request["messages"])),
            )
        else:
            inputs = request["input"]
            inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
            call = LlmCall(
                path, model, outcome.status if outcome else 200, fault, "embeddings", inputs=inputs
            )
        if outcome is None:
            malformed = fault == "malformed"
            body: Json | bytes = (
                self._completion(request, call, config, malformed=malformed)
                if chat
                else _embeddings(request, inputs, malformed=malformed)
            )
            if fault == "garbled":  # a 200 breaking off mid-body, as from a failing proxy
                encoded = json.dumps(body).encode("utf-8")
                body = encoded[: len(encoded) // 2]
            outcome = _Outcome(200, body, fault)
        if fault in ("timeout", "drop"):
            call = replace(call, status=None)
        self._record(call)
        return replace(outcome, latency_s=config.latency_ms / 1000)

    def _reject(self, call: LlmCall, body: Json) -> _Outcome:
        assert call.status is not None
        self._record(call)
        return _Outcome(call.status, body)

    def _record(self, call: LlmCall) -> None:
        call = replace(call, at=time.time())
        with self._lock:
            self._calls.append(call)
            echo = self._config.echo
        if echo is not None:
            echo(_describe(call))

    def _next_fault(self, config: LlmSimulatorConfig) -> str | None:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            if config.fault_rate and self._rng.random() < config.fault_rate:
                return self._rng.choice(config.faults)
        return None

    def _completion(
        self, request: Json, call: LlmCall, config: LlmSimulatorConfig, *, malformed: bool
    ) -> Json:
        texts = call.user_texts
        joined = " | ".join(texts)
        intent = _intent(joined)
        system = _system_text(request["messages"])
        answer = profile_reply(system, texts, intent) or f"{REPLY_PREFIX} {joined}".strip()
        reply = _truncate(answer)
        turn = {
            "reply": reply,
            "intent": intent.value,
            "confidence": 0.2 if any(LOW_CONFIDENCE_MARKER in t for t in texts) else 0.9,
        }
        answer = json.dumps(turn, ensure_ascii=False)
        if malformed:
            # Cut mid-object, as a model stopped by its token limit leaves it.
            answer = answer[: len(answer) // 2]
        message: Json = {"role": "assistant", "content": None, "refusal": None}
        if call.mode == "tool" and config.tools_as_content:
            message["content"] = f"```json\n{answer}\n```"
            finish = "stop"
        elif call.mode == "tool":
            message["tool_calls"] = [
                {
                    "id": f"call_sim{next(self._ids)}",
                    "type": "function",
                    "function": {"name": _forced_tool(request), "arguments": answer},
                }
            ]
            finish = "tool_calls"
        else:
            message["content"] = answer if call.mode == "json" else reply
            finish = "stop"
        prompt_chars = sum(len(_content_text(m.get("content"))) for m in request["messages"])
        completion_chars = len(answer) if call.mode != "text" else len(reply)
        prompt_tokens, completion_tokens = _tokens(prompt_chars), _tokens(completion_chars)
        return {
            "id": f"chatcmpl-sim{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request["model"],
            "system_fingerprint": "fp_recado_simulator",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def embed_text(text: str) -> list[float]:
    """The simulator's embedding of one text: a hashed, normalised bag of words.

    Case, accents and punctuation do not matter; texts sharing most words are close.
    """
    buckets = [0.0] * (EMBEDDING_DIMENSIONS - 1)
    for word in _WORD.findall(_fold(text)):
        # blake2b, not hash(): Python salts str hashes per process.
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        buckets[int.from_bytes(digest, "big") % len(buckets)] += 1.0
    norm = math.sqrt(sum(v * v for v in buckets))
    scale = math.sqrt(1 - _COMMON_SHARE) / norm if norm else 0.0
    common = math.sqrt(_COMMON_SHARE) if norm else 1.0
    return [v * scale for v in buckets] + [common]


# --- request reading ----------------------------------------------------------------------


def _chat_problem(request: Json) -> Json | None:
    model, messages = request.get("model"), request.get("messages")
    if not isinstance(model, str) or not model:
        return _error("you must provide a model parameter", "model")
    if not isinstance(messages, list) or not messages:
        return _error("'messages' must be a non-empty array", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return _error(f"'messages.{i}' must be an object with a 'role'", f"messages.{i}")
    tools = request.get("tools")
    if tools is not None and not (
        isinstance(tools, list)
        and tools
        and all(isinstance(t, dict) and isinstance(t.get("function"), dict) for t in tools)
    ):
        return _error("'tools' must be a non-empty array of function tools", "tools")
    return None


def _embeddings_problem(request: Json) -> Json | None:
    model, inputs = request.get("model"), request.get("input")
    if not isinstance(model, str) or not model:
        return _error("you must provide a model parameter", "model")
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return _error("'input' must be a string or a non-empty array of strings", "input")
    if request.get("encoding_format", "float") not in ("float", "base64"):
        return _error("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    return None


def _chat_mode(request: Json) -> str:
    if request.get("tools"):
        return "tool"
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    ):
        return "json"
    return "text"


def _forced_tool(request: Json) -> str:
    choice = request.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"].get("name"))
    return str(request["tools"][0]["function"].get("name"))


def _trailing_user_texts(messages: list[Json]) -> list[str]:
    """The user messages after the last assistant message: what the reply must answer."""
    texts: list[str] = []
    for message in reversed(messages):
        if message["role"] == "assistant":
            break
        if message["role"] == "user":
            texts.append(_content_text(message.get("content")))
    return texts[::-1]


def _content_text(content: Any) -> str:
    """A message's text, whether `content` is a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _system_text(messages: list[Json]) -> str:
    return "\n\n".join(
        _content_text(m.get("content")) for m in messages if m["role"] in ("system", "developer")
    )


def _intent(text: str) -> Intent:
    folded = _fold(text)
    for intent, pattern in _INTENT_KEYWORDS:
        if pattern.search(folded):
            return intent
    return Intent.OTHER


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_REPLY_CHARS else text[: _MAX_REPLY_CHARS - 1] + "…"


def _tokens(chars: int) -> int:
    return max(1, math.ceil(chars / 4))


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of strings")
    return value


def _check_faults(faults: Iterable[str]) -> None:
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown fault {unknown}: known faults are {list(FAULTS)}")


# --- OpenAI's shapes ----------------------------------------------------------------------


def _embeddings(request: Json, inputs: tuple[str, ...], *, malformed: bool) -> Json:
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    # 'malformed': a 200 without the vectors, as a misbehaving compatible server might send.
    for index, text in enumerate(() if malformed else inputs):
        vector = embed_text(text)
        embedding: Any = vector
        if as_base64:  # the SDK's default: little-endian float32, base64-encoded
            embedding = b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(_tokens(len(text)) for text in inputs)
    return {
        "object": "list",
        "data": data,
        "model": request["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _fault_outcome(fault: str | None, config: LlmSimulatorConfig) -> _Outcome | None:
    """The answer a fault replaces the normal one with; None when the normal answer goes out."""
    if fault == "429":
        body = _error(
            "Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1."
            f" Please try again in {config.retry_after_seconds}s.",
            None,
            code="rate_limit_exceeded",
            kind="requests",
        )
        return _Outcome(429, body, fault, (("Retry-After", str(config.retry_after_seconds)),))
    if fault == "quota":
        body = _error(
            "You exceeded your current quota, please check your plan and billing details.",
            None,
            code="insufficient_quota",
            kind="insufficient_quota",
        )
        return _Outcome(429, body, fault)
    if fault == "500":
        body = _error(
            "The server had an error while processing your request. Sorry about that!",
            None,
            kind="server_error",
        )
        return _Outcome(500, body, fault)
    if fault in ("timeout", "drop"):
        hang = config.hang_seconds if fault == "timeout" else 0.0
        return _Outcome(200, {}, fault, hang_s=hang)
    return None  # the normal answer ('malformed', 'garbled': spoilt by the caller)


def _error(
    message: str,
    param: str | None,
    *,
    code: str | None = None,
    kind: str = "invalid_request_error",
) -> Json:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _invalid_url(method: str, path: str) -> Json:
    return _error(f"Invalid URL ({method} {path})", None)


def _unauthorized(key: str | None) -> Json:
    if key is None:
        return _error(
            "You didn't provide an API key. You need to provide your API key in an Authorization"
            " header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            None,
        )
    # OpenAI shows only the key's ends; so does the simulator, to test that clients hide even that.
    masked = f"{key[:3]}{'*' * max(len(key) - 7, 3)}{key[-4:]}" if len(key) > 7 else "***"
    return _error(f"Incorrect API key provided: {masked}.", None, code="invalid_api_key")


def _model_not_found(model: str) -> Json:
    return _error(
        f"The model `{model}` does not exist or you do not have access to it.",
        None,
        code="model_not_found",
    )


def _models_document(config: LlmSimulatorConfig) -> Json:
    names = sorted(config.models) if config.models is not None else list(DEFAULT_MODELS)
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "recado-simulator"}
            for name in names
        ],
    }


def _describe(call: LlmCall) -> str:
    answered = "no answer" if call.status is None else f"HTTP {call.status}"
    fault = f" (fault {call.fault})" if call.fault else ""
    texts = len(call.user_texts) if call.mode != "embeddings" else len(call.inputs)
    what = "texts" if call.mode == "embeddings" else "user messages"
    model = f" {call.model}" if call.model else ""
    return f"{call.path}{model}: {texts} {what} -> {answered}{fault}"


# --- HTTP ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a 'drop' closes a connection in use
    # Headers and body go out as two writes; with Nagle on, each answer waits ~40 ms for an ACK.
    disable_nagle_algorithm = True
    server: SimulatorServer

    def do_GET(self) -> None:
        sim = self.server.simulator
        path = urlsplit(self.path).path.rstrip("/")
        if path == LOG_PATH:
            self._reply(200, sim.log_document())
        elif path == CONFIG_PATH:
            self._reply(200, sim.config_document())
        elif path == MODELS_PATH:
            key = _bearer(self.headers.get("Authorization"))
            config = sim.config
            if key is None or key in config.reject_keys:
                self._reply(401, _unauthorized(key))
            else:
                self._reply(200, _models_document(config))
        else:
            self._reply(404, _invalid_url("GET", path))

    def do_POST(self) -> None:
        sim = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            self._reply(413, _error("The request body is too large.", None))
            return
        raw = self.rfile.read(length)
        path = urlsplit(self.path).path.rstrip("/")
        if path == CONFIG_PATH:
            self._configure(raw)
            return
        outcome = sim._respond(path, self.headers.get("Authorization"), raw)
        if outcome.latency_s:
            sim._stopping.wait(outcome.latency_s)
        if outcome.fault in ("timeout", "drop"):
            # 'timeout' holds the connection past the client's patience; both end with no bytes.
            sim._stopping.wait(outcome.hang_s)
            self.close_connection = True
            return
        try:
            self._reply(outcome.status, outcome.body, outcome.headers)
        except OSError:
            self.close_connection = True  # the client gave up waiting

    def _configure(self, raw: bytes) -> None:
        sim = self.server.simulator
        try:
            sim._apply_config_document(json.loads(raw or b"{}"))
        except (UnicodeDecodeError, ValueError) as exc:
            self._reply(400, _error(str(exc), None))
            return
        self._reply(200, sim.config_document())

    def _reply(
        self, status: int, body: Json | bytes, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the CLI prints its own line per call through LlmSimulatorConfig.echo."""
