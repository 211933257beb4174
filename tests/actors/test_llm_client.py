"""The LLM client against the OpenAI-compatible simulator, over real HTTP."""

import json
import socket
import time
from collections.abc import Iterator

import httpx2
import openai
import pytest

from actors.clients.llm import (
    ChatResult,
    LLMClient,
    LLMMalformedOutput,
    LLMPermanent,
    LLMRetryable,
    classify,
)
from domain.errors import PermanentError, RetryableError
from ops.simulators.llm import LlmSimulator, LlmSimulatorConfig, embed_text

KEY = "sk-proj-recado-test-0123456789abcdef"
TOOL = {
    "type": "function",
    "function": {
        "name": "respond",
        "description": "The reply to send and how sure you are of it.",
        "parameters": {
            "type": "object",
            "properties": {
                "reply": {"type": "string"},
                "intent": {"type": "string"},
                "confidence": {"type": "number"},
            },
            "required": ["reply", "intent", "confidence"],
        },
    },
}
MESSAGES = [
    {"role": "system", "content": "Eres el asistente de una clínica."},
    {"role": "user", "content": "Hola"},
    {"role": "assistant", "content": "¡Hola! ¿En qué le puedo ayudar?"},
    {"role": "user", "content": "¿Cuánto cuesta una sesión?"},
]


@pytest.fixture
def sim() -> Iterator[LlmSimulator]:
    with LlmSimulator(LlmSimulatorConfig(hang_seconds=2)) as simulator:
        yield simulator


def make_client(base_url: str, *, timeout: float = 5.0, model: str = "recado-sim") -> LLMClient:
    return LLMClient(
        api_key=KEY,
        base_url=base_url,
        model=model,
        embedding_model="recado-sim-embedding",
        timeout=timeout,
    )


@pytest.fixture
def llm(sim: LlmSimulator) -> Iterator[LLMClient]:
    client = make_client(sim.url, timeout=0.5)
    yield client
    client.close()


# --- chat ---------------------------------------------------------------------------------


def test_chat_returns_the_tool_arguments_usage_and_latency(
    sim: LlmSimulator, llm: LLMClient
) -> None:
    sim.configure(latency_ms=80)

    result = llm.chat(MESSAGES, TOOL)

    assert isinstance(result, ChatResult)
    assert json.loads(result.arguments) == {
        "reply": "Simulated reply: ¿Cuánto cuesta una sesión?",
        "intent": "price",
        "confidence": 0.9,
    }
    assert result.model == "recado-sim"
    usage = result.response["usage"]
    assert (result.prompt_tokens, result.completion_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert 80 <= result.latency_ms < 500
    assert result.response["choices"][0]["finish_reason"] == "tool_calls"
    # The tool was forced, and only the unanswered message was answered.
    [call] = sim.calls
    assert call.mode == "tool"
    assert call.user_texts == ("¿Cuánto cuesta una sesión?",)


def test_the_model_is_the_one_the_server_reports(sim: LlmSimulator) -> None:
    client = make_client(sim.url, model="gpt-4o-mini")

    assert client.chat(MESSAGES, TOOL).model == "gpt-4o-mini"
    assert sim.calls[0].model == "gpt-4o-mini"


def test_json_content_instead_of_a_tool_call_is_accepted(sim: LlmSimulator, llm: LLMClient) -> None:
    sim.configure(tools_as_content=True)

    result = llm.chat(MESSAGES, TOOL)

    assert json.loads(result.arguments)["intent"] == "price"
    assert result.response["choices"][0]["message"]["content"].startswith("```json")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("429", LLMRetryable),
        ("quota", LLMPermanent),
        ("500", LLMRetryable),
        ("drop", LLMRetryable),
        ("malformed", LLMMalformedOutput),
        ("garbled", LLMMalformedOutput),
    ],
)
def test_each_fault_is_one_error_class_after_one_request(
    sim: LlmSimulator, llm: LLMClient, fault: str, expected: type[Exception]
) -> None:
    sim.script([fault])

    with pytest.raises(Exception) as raised:
        llm.chat(MESSAGES, TOOL)

    assert type(raised.value) is expected
    # No SDK retries: the actor's backoff is the only one.
    assert len(sim.calls) == 1


def test_retryable_and_permanent_are_the_actor_error_kinds() -> None:
    assert issubclass(LLMRetryable, RetryableError)
    assert issubclass(LLMMalformedOutput, LLMRetryable)
    assert issubclass(LLMPermanent, PermanentError)


def test_malformed_json_content_is_malformed_output(sim: LlmSimulator, llm: LLMClient) -> None:
    sim.configure(tools_as_content=True)
    sim.script(["malformed"])

    with pytest.raises(LLMMalformedOutput, match="neither a respond call nor JSON content"):
        llm.chat(MESSAGES, TOOL)


def test_a_hanging_server_times_out_within_the_client_timeout(
    sim: LlmSimulator, llm: LLMClient
) -> None:
    sim.script(["timeout"])

    started = time.monotonic()
    with pytest.raises(LLMRetryable, match="timed out") as raised:
        llm.chat(MESSAGES, TOOL)

    assert time.monotonic() - started < 1.5
    assert isinstance(raised.value.__cause__, openai.APITimeoutError)
    assert len(sim.calls) == 1


def test_no_server_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/v1")

    with pytest.raises(LLMRetryable, match="connection failed"):
        client.chat(MESSAGES, TOOL)


def test_a_rejected_key_is_permanent_and_never_quoted(sim: LlmSimulator, llm: LLMClient) -> None:
    sim.configure(reject_keys=frozenset({KEY}))

    with pytest.raises(LLMPermanent) as raised:
        llm.chat(MESSAGES, TOOL)

    message = str(raised.value)
    assert message == "LLM chat: HTTP 401 invalid_api_key"
    assert KEY[-4:] not in message and KEY not in repr(llm)


def test_unknown_model_and_unknown_path_are_permanent(sim: LlmSimulator) -> None:
    sim.configure(models=frozenset({"recado-sim"}))
    wrong_model = make_client(sim.url, model="gpt-nope")
    wrong_path = make_client(f"{sim.url}/nope")

    with pytest.raises(LLMPermanent, match="HTTP 404 model_not_found"):
        wrong_model.chat(MESSAGES, TOOL)
    with pytest.raises(LLMPermanent, match="HTTP 404"):
        wrong_path.chat(MESSAGES, TOOL)


def test_a_provider_message_quoting_the_key_is_scrubbed(sim: LlmSimulator) -> None:
    # The 404 message quotes the model name; here the name is the key.
    sim.configure(models=frozenset({"recado-sim"}))
    client = make_client(sim.url, model=KEY)

    with pytest.raises(LLMPermanent) as raised:
        client.chat(MESSAGES, TOOL)

    assert KEY not in str(raised.value)
    assert "The model `[key]` does not exist" in str(raised.value)


# --- embeddings ---------------------------------------------------------------------------


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5


def test_embed_returns_one_vector_per_text_in_order(sim: LlmSimulator, llm: LLMClient) -> None:
    texts = [
        "¿Cuánto cuesta una sesión de fisioterapia el próximo martes por la tarde?",
        "¿Cuánto cuesta una sesión de fisioterapia el próximo jueves por la tarde?",
        "Me encantó el concierto de anoche",
    ]

    vectors = llm.embed(texts)

    assert vectors == [embed_text(text) for text in texts]
    assert cosine(vectors[0], vectors[1]) > 0.9
    assert cosine(vectors[0], vectors[2]) < 0.5
    assert llm.embed([]) == []
    assert [call.inputs for call in sim.calls] == [tuple(texts)]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [("malformed", LLMMalformedOutput), ("garbled", LLMMalformedOutput), ("429", LLMRetryable)],
)
def test_embedding_faults(
    sim: LlmSimulator, llm: LLMClient, fault: str, expected: type[Exception]
) -> None:
    sim.script([fault])

    with pytest.raises(Exception) as raised:
        llm.embed(["hola"])

    assert type(raised.value) is expected


# --- classify -----------------------------------------------------------------------------

_REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(status: int, code: str | None = None) -> openai.APIStatusError:
    body = {"message": "m", "type": code or "invalid_request_error", "param": None, "code": code}
    response = httpx2.Response(status, request=_REQUEST, json={"error": body})
    return openai.APIStatusError(f"Error code: {status}", response=response, body=body)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (openai.APITimeoutError(request=_REQUEST), LLMRetryable),
        (openai.APIConnectionError(request=_REQUEST), LLMRetryable),
        (status_error(400), LLMPermanent),
        (status_error(401, "invalid_api_key"), LLMPermanent),
        (status_error(403), LLMPermanent),
        (status_error(404, "model_not_found"), LLMPermanent),
        (status_error(408), LLMRetryable),
        (status_error(409), LLMRetryable),
        (status_error(413), LLMPermanent),
        (status_error(422), LLMPermanent),
        (status_error(429, "rate_limit_exceeded"), LLMRetryable),
        (status_error(429, "insufficient_quota"), LLMPermanent),
        (status_error(500), LLMRetryable),
        (status_error(503), LLMRetryable),
        (openai.OpenAIError("anything else"), LLMPermanent),
    ],
)
def test_classify(error: Exception, expected: type[Exception]) -> None:
    assert classify(error) is expected
