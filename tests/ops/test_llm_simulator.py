"""The LLM simulator over real HTTP: OpenAI's shapes, deterministic answers, faults, CLI."""

import base64
import json
import math
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from domain.conversation import ContextMessage, Extraction, LeadFacts
from domain.profile import parse_profile
from domain.prompts import RESPOND_TOOL, build_chat, parse_turn
from ops.cli import main
from ops.simulators.llm import (
    EMBEDDING_DIMENSIONS,
    LlmSimulator,
    LlmSimulatorConfig,
    embed_text,
)
from ops.simulators.llm_answers import read_prompt

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-simulator-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TOOL = {
    "type": "function",
    "function": {
        "name": "respond",
        "parameters": {
            "type": "object",
            "properties": {
                "reply": {"type": "string"},
                "intent": {"type": "string"},
                "confidence": {"type": "number"},
            },
        },
    },
}


@pytest.fixture
def sim() -> Iterator[LlmSimulator]:
    with LlmSimulator(LlmSimulatorConfig(hang_seconds=2)) as simulator:
        yield simulator


@pytest.fixture
def http(sim: LlmSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url.removesuffix("/v1"), timeout=5) as client:
        yield client


def chat_body(*texts: str, history: list[dict] | None = None, **extra: Any) -> dict:
    messages = [{"role": "system", "content": "You answer for a clinic."}, *(history or [])]
    messages += [{"role": "user", "content": text} for text in texts]
    return {"model": "recado-sim", "messages": messages, **extra}


def tool_turn(response: httpx.Response) -> dict:
    call = response.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "respond"
    return json.loads(call["function"]["arguments"])


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


# --- chat ---------------------------------------------------------------------------------


def test_tool_call_answers_the_trailing_user_messages(http: httpx.Client) -> None:
    history = [
        {"role": "user", "content": "Hola"},
        {"role": "assistant", "content": "¡Hola! ¿En qué le ayudo?"},
    ]
    body = chat_body(
        "Quiero una cita",
        "para el martes",
        history=history,
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "respond"}},
    )

    response = http.post("/v1/chat/completions", json=body, headers=AUTH)

    assert response.status_code == 200
    document = response.json()
    assert document["object"] == "chat.completion"
    assert document["model"] == "recado-sim"
    assert document["choices"][0]["finish_reason"] == "tool_calls"
    assert tool_turn(response) == {
        "reply": "Simulated reply: Quiero una cita | para el martes",
        "intent": "book",
        "confidence": 0.9,
    }
    usage = document["usage"]
    prompt_chars = sum(len(m["content"]) for m in body["messages"])
    assert usage["prompt_tokens"] == math.ceil(prompt_chars / 4)
    arguments = document["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert usage["completion_tokens"] == math.ceil(len(arguments) / 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Quiero hablar con una persona", "human"),
        ("Necesito un agente, esto es una queja", "human"),
        ("Tengo una queja del servicio", "complaint"),
        ("That was terrible", "complaint"),
        ("Quiero cancelar mi cita", "cancel"),
        ("Can I reschedule?", "reschedule"),
        ("¿Puedo cambiar la hora?", "reschedule"),
        ("Quisiera agendar", "book"),
        ("I want to book an appointment", "book"),
        ("¿CUÁNTO cuesta la limpieza?", "price"),
        ("How much is it", "price"),
        ("¿Abren el sábado?", "question"),
        ("Hola", "greeting"),
        ("hi there", "greeting"),
        ("this is a thing", "other"),  # 'hi' inside a word is not a greeting
        ("Gracias", "other"),
    ],
)
def test_intent_comes_from_keywords(http: httpx.Client, text: str, intent: str) -> None:
    response = http.post("/v1/chat/completions", json=chat_body(text, tools=[TOOL]), headers=AUTH)

    assert tool_turn(response)["intent"] == intent


def test_low_confidence_marker(http: httpx.Client) -> None:
    body = chat_body("no entiendo [low-confidence]", tools=[TOOL])

    turn = tool_turn(http.post("/v1/chat/completions", json=body, headers=AUTH))

    assert turn["confidence"] == 0.2


def test_json_mode_and_plain_text(http: httpx.Client) -> None:
    json_body = chat_body("Hola", response_format={"type": "json_object"})
    text_body = chat_body("Hola")

    as_json = http.post("/v1/chat/completions", json=json_body, headers=AUTH).json()
    as_text = http.post("/v1/chat/completions", json=text_body, headers=AUTH).json()

    message = as_json["choices"][0]["message"]
    assert "tool_calls" not in message
    assert json.loads(message["content"])["intent"] == "greeting"
    assert as_text["choices"][0]["message"]["content"] == "Simulated reply: Hola"
    assert as_text["choices"][0]["finish_reason"] == "stop"


def test_content_parts_and_long_replies(http: httpx.Client) -> None:
    parts = [{"type": "text", "text": "Hola"}, {"type": "text", "text": "x" * 2000}]
    body = {"model": "m", "messages": [{"role": "user", "content": parts}]}

    reply = http.post("/v1/chat/completions", json=body, headers=AUTH).json()
    text = reply["choices"][0]["message"]["content"]

    assert text.startswith("Simulated reply: Hola x")
    assert len(text) == 600
    assert text.endswith("…")


def test_same_request_same_answer(http: httpx.Client) -> None:
    body = chat_body("¿Cuánto cuesta una sesión?", tools=[TOOL])

    first, second = (http.post("/v1/chat/completions", json=body, headers=AUTH) for _ in range(2))

    assert tool_turn(first) == tool_turn(second)


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic x"}])
def test_a_key_is_required(http: httpx.Client, headers: dict) -> None:
    response = http.post("/v1/chat/completions", json=chat_body("Hola"), headers=headers)

    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_rejected_keys_get_401_with_only_the_keys_ends(
    sim: LlmSimulator, http: httpx.Client
) -> None:
    sim.configure(reject_keys=frozenset({KEY}))

    response = http.post("/v1/chat/completions", json=chat_body("Hola"), headers=AUTH)
    other = http.post(
        "/v1/chat/completions", json=chat_body("Hola"), headers={"Authorization": "Bearer other"}
    )

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert KEY not in error["message"]
    assert other.status_code == 200


def test_unknown_paths_and_models_are_404(sim: LlmSimulator, http: httpx.Client) -> None:
    sim.configure(models=frozenset({"recado-sim"}))

    unknown_path = http.post("/v1/completions", json=chat_body("Hola"), headers=AUTH)
    unknown_model = http.post(
        "/v1/chat/completions", json={**chat_body("Hola"), "model": "gpt-x"}, headers=AUTH
    )
    models = http.get("/v1/models", headers=AUTH).json()

    assert unknown_path.status_code == 404
    assert unknown_path.json()["error"]["message"] == "Invalid URL (POST /v1/completions)"
    assert unknown_model.status_code == 404
    assert unknown_model.json()["error"]["code"] == "model_not_found"
    assert [m["id"] for m in models["data"]] == ["recado-sim"]
    assert http.get("/v1/models").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "x"}]},
        {"model": "m", "messages": []},
        {"model": "m", "messages": ["x"]},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{}]},
    ],
)
def test_invalid_chat_requests_are_400(http: httpx.Client, body: dict) -> None:
    response = http.post("/v1/chat/completions", json=body, headers=AUTH)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# --- faults -------------------------------------------------------------------------------


def test_scripted_faults_apply_in_order_then_stop(sim: LlmSimulator, http: httpx.Client) -> None:
    sim.script(["429", "quota", "500", "malformed"])
    body = chat_body("Hola", tools=[TOOL])

    answers = [http.post("/v1/chat/completions", json=body, headers=AUTH) for _ in range(5)]

    assert [a.status_code for a in answers] == [429, 429, 500, 200, 200]
    assert answers[0].headers["Retry-After"] == "1"
    assert answers[0].json()["error"]["code"] == "rate_limit_exceeded"
    assert answers[1].json()["error"]["code"] == "insufficient_quota"
    assert answers[2].json()["error"]["type"] == "server_error"
    malformed = answers[3].json()["choices"][0]["message"]["tool_calls"][0]["function"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed["arguments"])
    assert tool_turn(answers[4])["intent"] == "greeting"
    assert [c.fault for c in sim.calls] == ["429", "quota", "500", "malformed", None]


def test_drop_and_timeout_send_no_answer(sim: LlmSimulator) -> None:
    sim.configure(hang_seconds=0.5)
    sim.script(["drop", "timeout", "timeout"])
    url = f"{sim.url}/chat/completions"

    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, json=chat_body("Hola"), headers=AUTH, timeout=5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=chat_body("Hola"), headers=AUTH, timeout=0.2)
    # A patient client sees the connection closed after the hang, without a byte.
    started = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, json=chat_body("Hola"), headers=AUTH, timeout=5)

    assert 0.5 <= time.monotonic() - started < 2
    assert [(c.fault, c.status) for c in sim.calls] == [
        ("drop", None),
        ("timeout", None),
        ("timeout", None),
    ]


def test_garbled_answers_are_not_json(sim: LlmSimulator, http: httpx.Client) -> None:
    sim.script(["garbled"])

    response = http.post("/v1/chat/completions", json=chat_body("Hola"), headers=AUTH)

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_latency_is_added(sim: LlmSimulator, http: httpx.Client) -> None:
    sim.configure(latency_ms=150)

    started = time.monotonic()
    http.post("/v1/chat/completions", json=chat_body("Hola"), headers=AUTH)

    assert time.monotonic() - started >= 0.15


def test_random_faults_repeat_with_the_seed() -> None:
    def run() -> list[str | None]:
        config = LlmSimulatorConfig(fault_rate=0.5, faults=("429", "500"), seed=7)
        with LlmSimulator(config) as sim, httpx.Client(timeout=5) as client:
            for _ in range(30):
                client.post(f"{sim.url}/chat/completions", json=chat_body("Hola"), headers=AUTH)
            return [call.fault for call in sim.calls]

    first = run()

    assert first == run()
    assert {"429", "500", None} == set(first)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        LlmSimulatorConfig(faults=("connect",))
    with pytest.raises(ValueError, match="between 0 and 1"):
        LlmSimulatorConfig(fault_rate=2)
    with LlmSimulator() as sim:
        with pytest.raises(ValueError, match="cannot change"):
            sim.configure(port=1)
        with pytest.raises(ValueError, match="unknown fault"):
            sim.script(["nope"])


# --- control over HTTP --------------------------------------------------------------------


def test_control_endpoints_steer_it_from_another_client(sim: LlmSimulator) -> None:
    base = sim.url.removesuffix("/v1")
    with httpx.Client(timeout=5) as control:
        configured = control.post(
            f"{base}/_simulator/config",
            json={"latency_ms": 10, "script": ["500"], "reject_keys": ["bad-key"]},
        )
        refused = control.post(f"{base}/_simulator/config", json={"script": ["nope"]})
        refused_key = control.post(f"{base}/_simulator/config", json={"port": 1})

        assert configured.status_code == 200
        assert configured.json()["script"] == ["500"]
        assert configured.json()["latency_ms"] == 10
        assert refused.status_code == 400
        assert refused_key.status_code == 400

        with httpx.Client(timeout=5) as api:
            failed = api.post(f"{sim.url}/chat/completions", json=chat_body("Hola"), headers=AUTH)
            bad = api.post(
                f"{sim.url}/chat/completions",
                json=chat_body("Hola"),
                headers={"Authorization": "Bearer bad-key"},
            )
            answered = api.post(
                f"{sim.url}/chat/completions", json=chat_body("Hola", "¿precio?"), headers=AUTH
            )
        log = control.get(f"{base}/_simulator/log").json()

    assert (failed.status_code, bad.status_code, answered.status_code) == (500, 401, 200)
    assert sim.config.latency_ms == 10
    calls = log["calls"]
    assert [(c["status"], c["fault"]) for c in calls] == [(500, "500"), (401, None), (200, None)]
    assert calls[2]["path"] == "/v1/chat/completions"
    assert calls[2]["model"] == "recado-sim"
    assert calls[2]["user_texts"] == ["Hola", "¿precio?"]
    assert log["config"]["reject_keys"] == ["bad-key"]


# --- embeddings ---------------------------------------------------------------------------


def embed(http: httpx.Client, texts: list[str], **extra: Any) -> list[list[float]]:
    response = http.post(
        "/v1/embeddings", json={"model": "e", "input": texts, **extra}, headers=AUTH
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert [item["index"] for item in data] == list(range(len(texts)))
    assert all(item["object"] == "embedding" for item in data)
    return [item["embedding"] for item in data]


def test_embeddings_are_deterministic_unit_vectors(http: httpx.Client) -> None:
    text = "¿Cuánto cuesta una sesión de fisioterapia?"

    vectors = embed(http, [text, text])

    assert vectors[0] == vectors[1] == embed_text(text)
    assert len(vectors[0]) == EMBEDDING_DIMENSIONS
    assert math.isclose(sum(v * v for v in vectors[0]), 1.0)


def test_embedding_similarity() -> None:
    question = "¿Cuánto cuesta una sesión de fisioterapia el próximo martes por la tarde?"
    one_word_changed = "¿Cuánto cuesta una sesión de fisioterapia el próximo jueves por la tarde?"
    unrelated = "Me encantó el concierto de anoche en el estadio"

    same = cosine(
        embed_text(question),
        embed_text("cuanto CUESTA una sesion de fisioterapia el proximo martes, por la tarde"),
    )

    assert math.isclose(same, 1.0)
    assert cosine(embed_text(question), embed_text(one_word_changed)) > 0.9
    assert cosine(embed_text(question), embed_text(unrelated)) < 0.4


def test_base64_embeddings_match_the_floats(http: httpx.Client) -> None:
    response = http.post(
        "/v1/embeddings",
        json={"model": "e", "input": "hola", "encoding_format": "base64"},
        headers=AUTH,
    )

    raw = base64.b64decode(response.json()["data"][0]["embedding"])
    floats = struct.unpack(f"<{EMBEDDING_DIMENSIONS}f", raw)
    assert all(
        math.isclose(a, b, rel_tol=1e-6) for a, b in zip(floats, embed_text("hola"), strict=True)
    )
    assert response.json()["usage"]["prompt_tokens"] == 1


def test_malformed_embeddings_have_no_vectors(sim: LlmSimulator, http: httpx.Client) -> None:
    sim.script(["malformed"])

    response = http.post("/v1/embeddings", json={"model": "e", "input": ["a", "b"]}, headers=AUTH)

    assert response.status_code == 200
    assert response.json()["data"] == []
    assert sim.calls[-1].inputs == ("a", "b")


# --- CLI ----------------------------------------------------------------------------------


def test_cli_starts_answers_and_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "ops", "simulate", "llm", "--port", "0",
            "--fault-rate", "0", "--seed", "3",
        ],
        cwd=ROOT,
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    # A stuck process must not hang the suite.
    watchdog = threading.Timer(20, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        banner = []
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(banner)
        url = text.split("LLM simulator on ", 1)[1].split()[0]
        assert url.endswith("/v1")
        assert f"OPENAI_BASE_URL={url}" in text

        response = httpx.post(
            f"{url}/chat/completions", json=chat_body("Hola", tools=[TOOL]), headers=AUTH
        )
        assert tool_turn(response)["reply"] == "Simulated reply: Hola"
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=10)[0]
        watchdog.cancel()
    assert proc.returncode == 0
    assert "/v1/chat/completions recado-sim: 1 user messages -> HTTP 200" in output
    assert "stopped: 1 calls, 0 without a 200 answer" in output


def test_cli_refuses_unknown_faults() -> None:
    result = CliRunner().invoke(main, ["simulate", "llm", "--faults", "429,connect"])

    assert result.exit_code == 2
    assert "unknown fault ['connect']" in result.output


# --- answers from the business profile ------------------------------------------------------

DEMO = parse_profile(json.loads((ROOT / "ops" / "demo_profile.json").read_text()), default_name="x")
MONDAY_MORNING = datetime(2026, 12, 7, 10, 0)
NO_LEAD = LeadFacts(None, None, None, None, 0, "new")


def recado_chat(*texts: str, language: str = "es", general: bool = False) -> dict:
    """A request as the assistant makes it: recado's own prompt for the demo clinic."""
    history = [ContextMessage(i, "in", "text", t, MONDAY_MORNING) for i, t in enumerate(texts)]
    messages = build_chat(
        profile=DEMO,
        lead=NO_LEAD,
        history=history,
        local_now=MONDAY_MORNING,
        extraction=Extraction(),
        language=language,
        general=general,
    )
    return {
        "model": "recado-sim",
        "messages": messages,
        "tools": [RESPOND_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "respond"}},
    }


def test_the_prompt_is_read_back_into_the_profile_it_was_built_from() -> None:
    system = recado_chat("hola")["messages"][0]["content"]

    profile, language, local_now = read_prompt(system)

    assert (language, local_now) == ("es", MONDAY_MORNING)
    same = ("name", "tone", "timezone", "hours", "address", "phone", "faq", "policies")
    assert {f: getattr(profile, f) for f in same} == {f: getattr(DEMO, f) for f in same}
    # A price on request is rendered without its currency: everything else comes back.
    assert [replace(s, currency="") for s in profile.services] == [
        replace(s, currency="") for s in DEMO.services
    ]


@pytest.mark.parametrize(
    ("texts", "language", "general", "reply", "intent"),
    [
        (
            ("hola", "¿cuánto cuesta el masaje?"),
            "es",
            False,
            "Nuestros precios: Masaje terapéutico, 900 MXN.",
            "price",
        ),
        (
            ("¿qué horario tienen?",),
            "es",
            False,
            "Nuestro horario: lunes a viernes 08:00-14:00, 16:00-20:00; sábado 09:00-13:00;"
            " domingo cerrado. Ahora estamos abiertos.",
            "question",
        ),
        (
            # Kept in the answer cache and served later: no "open now".
            ("¿qué horario tienen?",),
            "es",
            True,
            "Nuestro horario: lunes a viernes 08:00-14:00, 16:00-20:00; sábado 09:00-13:00;"
            " domingo cerrado.",
            "question",
        ),
        (
            ("where are you located?",),
            "en",
            False,
            "We are at Calle Durango 245, Col. Roma Norte, Cuauhtémoc, 06700 Ciudad de México.",
            "question",
        ),
        (
            ("¿qué formas de pago aceptan?",),
            "es",
            False,
            "Efectivo, transferencia y tarjetas de débito o crédito.",
            "question",
        ),
        (
            # The demo clinic says "usted".
            ("hola",),
            "es",
            False,
            "¡Hola! Soy el asistente de Clínica Demo Fisioterapia. ¿En qué le puedo ayudar?"
            " Puedo darle precios, horarios y nuestra dirección.",
            "greeting",
        ),
        (
            ("hola", "quiero cita"),
            "es",
            False,
            "Recibimos su solicitud de cita; no podemos confirmar horarios por aquí.\n"
            "Una persona de Clínica Demo Fisioterapia le responderá en breve.",
            "book",
        ),
    ],
)
def test_the_simulated_model_answers_from_the_profile_in_the_customers_language(
    http: httpx.Client,
    texts: tuple[str, ...],
    language: str,
    general: bool,
    reply: str,
    intent: str,
) -> None:
    body = recado_chat(*texts, language=language, general=general)

    response = http.post("/v1/chat/completions", json=body, headers=AUTH)

    assert response.status_code == 200
    # The assistant reads it as it reads a real model's call of its tool.
    turn = parse_turn(
        response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    )
    assert (turn.reply, turn.intent.value, turn.confidence) == (reply, intent, 0.9)


def test_the_profile_answer_is_the_same_every_time(http: httpx.Client) -> None:
    body = recado_chat("¿cuánto cuesta?", "¿dónde están?")

    answers = {
        tool_turn(http.post("/v1/chat/completions", json=body, headers=AUTH))["reply"]
        for _ in range(3)
    }

    assert len(answers) == 1
