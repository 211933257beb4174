"""The assistant's model, through the OpenAI SDK: any OpenAI-compatible endpoint.

One request per call and no SDK retries: the actor's retry policy is the only one, so a failing
provider costs one request per attempt, never a hidden burst. Every failure becomes LLMRetryable
or LLMPermanent; their messages carry statuses and error codes, never the API key or chat text.
"""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from actors.clients.llm_errors import LLMMalformedOutput, LLMPermanent, LLMRetryable

# Connecting is quick or not happening; the rest of the budget is the model's.
MAX_CONNECT_SECONDS = 5.0
# Provider messages are short; cap what reaches logs and dead letters anyway.
_MAX_DETAIL = 200


@dataclass(frozen=True)
class ChatResult:
    # The JSON object the model produced: the tool call's arguments, or JSON message content.
    arguments: str
    model: str  # as the server reported it
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    response: dict[str, Any]  # the whole response, for the audit record


def classify(error: Exception) -> type[LLMRetryable] | type[LLMPermanent]:
    """Which of our errors an SDK error is: retrying helps, or it cannot."""
    if isinstance(error, openai.APIConnectionError):  # timeouts included
        return LLMRetryable
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        if status == 429 and _is_quota(error):
            return LLMPermanent  # billing: no backoff refills it
        if status in (408, 409, 429) or status >= 500:
            return LLMRetryable
        return LLMPermanent
    return LLMPermanent


class LLMClient:
    """Chat with a forced tool, and embeddings. Thread-safe; keep one per process."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        embedding_model: str,
        timeout: float,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.model = model
        self.embedding_model = embedding_model
        self._api_key = api_key  # kept only to scrub it from error messages
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=openai.Timeout(timeout, connect=min(MAX_CONNECT_SECONDS, timeout)),
        )

    def __repr__(self) -> str:
        return f"LLMClient(base_url={str(self._client.base_url)!r}, model={self.model!r})"

    def chat(self, messages: list[dict[str, Any]], tool: dict[str, Any]) -> ChatResult:
        """One completion that must call `tool`; its arguments (a JSON object) come back."""
        name = tool["function"]["name"]
        started = time.monotonic()
        try:
            # The raw response: it is what the audit keeps, and a body the SDK would refuse to
            # model (a proxy's HTML page, cut-off JSON) becomes LLMMalformedOutput here.
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model,
                # Plain JSON built by domain/ (standard library only) in the shape the API takes;
                # the SDK's TypedDicts cannot be named there.
                messages=cast(list[ChatCompletionMessageParam], messages),
                tools=[cast(ChatCompletionFunctionToolParam, tool)],
                tool_choice={"type": "function", "function": {"name": name}},
            )
        except openai.OpenAIError as error:
            raise self._wrap("chat", error) from error
        latency_ms = round((time.monotonic() - started) * 1000)
        response = _json_object(raw.http_response, "chat")
        usage = response.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return ChatResult(
            arguments=_arguments(response, name),
            model=str(response.get("model") or self.model),
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            latency_ms=latency_ms,
            response=response,
        )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        if not texts:
            return []
        try:
            # Floats, not the SDK's default base64: not every compatible server speaks base64.
            raw = self._client.embeddings.with_raw_response.create(
                model=self.embedding_model, input=list(texts), encoding_format="float"
            )
        except openai.OpenAIError as error:
            raise self._wrap("embeddings", error) from error
        return _vectors(_json_object(raw.http_response, "embeddings"), len(texts))

    def close(self) -> None:
        self._client.close()

    def _wrap(self, what: str, error: openai.OpenAIError) -> LLMRetryable | LLMPermanent:
        kind = classify(error)
        return kind(f"LLM {what}: {_scrub(_describe(error), self._api_key)}")


def _json_object(http_response: Any, what: str) -> dict[str, Any]:
    try:
        body = http_response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise LLMMalformedOutput(
            f"LLM {what}: HTTP {http_response.status_code} without a JSON object"
        )
    return body


def _arguments(response: dict[str, Any], tool_name: str) -> str:
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMMalformedOutput("LLM chat: the response has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise LLMMalformedOutput("LLM chat: the first choice has no message")
    calls = [
        function
        for call in message.get("tool_calls") or ()
        if isinstance(call, dict) and isinstance(function := call.get("function"), dict)
    ]
    named = [call for call in calls if call.get("name") == tool_name]
    if named:
        arguments = named[0].get("arguments")
        if not isinstance(arguments, str) or not _is_json_object(arguments):
            raise LLMMalformedOutput(f"LLM chat: the {tool_name} arguments are not a JSON object")
        return arguments
    # Some compatible servers ignore tool_choice and answer the JSON in the message instead.
    content = message.get("content")
    if isinstance(content, str):
        text = _unfenced(content)
        if _is_json_object(text):
            return text
    finish = choices[0].get("finish_reason")
    raise LLMMalformedOutput(
        f"LLM chat: neither a {tool_name} call nor JSON content (finish_reason {finish})"
    )


def _vectors(response: dict[str, Any], expected: int) -> list[list[float]]:
    data = response.get("data")
    if not isinstance(data, list) or len(data) != expected:
        got = len(data) if isinstance(data, list) else "no"
        raise LLMMalformedOutput(f"LLM embeddings: {got} vectors for {expected} texts")
    ordered = sorted(data, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
    vectors = []
    for item in ordered:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if (
            not isinstance(vector, list)
            or not vector
            or not all(isinstance(v, int | float) for v in vector)
        ):
            raise LLMMalformedOutput("LLM embeddings: a vector is not a list of numbers")
        vectors.append([float(v) for v in vector])
    if len({len(v) for v in vectors}) != 1:
        raise LLMMalformedOutput("LLM embeddings: vectors of different lengths")
    return vectors


def _unfenced(text: str) -> str:
    """The text inside a ```json fence, as some models wrap JSON; else the text stripped."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and len(stripped) >= 6:
        inner = stripped[3:-3]
        first_line, _, rest = inner.partition("\n")
        return (rest if first_line.strip().isalpha() or not first_line.strip() else inner).strip()
    return stripped


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _is_quota(error: openai.APIStatusError) -> bool:
    return "insufficient_quota" in (error.code, error.type)


def _describe(error: openai.OpenAIError) -> str:
    if isinstance(error, openai.APITimeoutError):
        return "timed out"
    if isinstance(error, openai.APIConnectionError):
        cause = type(error.__cause__).__name__ if error.__cause__ else "no cause"
        return f"connection failed ({cause})"
    if isinstance(error, openai.APIStatusError):
        code = f" {error.code}" if error.code else ""
        described = f"HTTP {error.status_code}{code}"
        # Authentication errors quote part of the key; leave the provider's words out.
        if error.status_code in (401, 403):
            return described
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("message")
        return f"{described}: {detail[:_MAX_DETAIL]}" if isinstance(detail, str) else described
    return type(error).__name__


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "[key]") if secret else text
