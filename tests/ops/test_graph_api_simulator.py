"""The Graph API simulator over real HTTP: Meta's shapes, faults, signed status webhooks, CLI."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from domain.channels import whatsapp
from domain.models import StatusUpdate
from ops.cli import main
from ops.simulators.graph_api import (
    FAULTS,
    GraphApiSimulator,
    SimulatorConfig,
    TenantRoute,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "whatsapp"
NUMBER, SECRET, TOKEN = "106540352242922", "acme-app-secret", "acme-access-token"
OTHER_NUMBER, OTHER_SECRET, OTHER_TOKEN = "200000000000002", "other-secret", "other-token"
TO = "+16505551234"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def text_send(**extra: Any) -> dict[str, Any]:
    return {**fixture("send_text_request.json"), **extra}


class Receiver:
    """recado's webhook side: verifies each signature with the tenant's secret, then answers."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets  # path -> app secret
        self.answers: list[int] = []  # statuses to answer first, then 200
        self.statuses: list[tuple[str, StatusUpdate]] = []  # (path, parsed), in arrival order
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                    secret = receiver.secrets.get(self.path, "")
                    if not whatsapp.verify_signature(
                        secret, body, self.headers["X-Hub-Signature-256"]
                    ):
                        receiver.bad_signatures += 1
                    elif answer == 200:
                        for event in whatsapp.split_envelope(body):
                            status = whatsapp.parse_status(event.item)
                            receiver.statuses.append((self.path, status))
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def by_message(self) -> dict[str, list[StatusUpdate]]:
        grouped: dict[str, list[StatusUpdate]] = {}
        for _, status in self.statuses:
            grouped.setdefault(status.provider_message_id, []).append(status)
        return grouped


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver({"/webhooks/whatsapp/acme": SECRET, "/webhooks/whatsapp/other": OTHER_SECRET})
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def simulator(receiver: Receiver) -> Iterator[Callable[..., GraphApiSimulator]]:
    """Starts simulators routed to `receiver`; fast statuses unless told otherwise."""
    started: list[GraphApiSimulator] = []

    def start(**overrides: Any) -> GraphApiSimulator:
        config: dict[str, Any] = {
            "routes": {
                NUMBER: TenantRoute(f"{receiver.url}/webhooks/whatsapp/acme", SECRET, TOKEN),
                OTHER_NUMBER: TenantRoute(
                    f"{receiver.url}/webhooks/whatsapp/other", OTHER_SECRET, OTHER_TOKEN
                ),
            },
            "status_delays_ms": (0, 20, 40),
            "webhook_backoff_s": 0.02,
            **overrides,
        }
        sim = GraphApiSimulator(SimulatorConfig(**config)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


HTTP = httpx.Client()  # one pool for the module: a client per call costs ~30 ms of TLS setup


@pytest.fixture(scope="module", autouse=True)
def close_http() -> Iterator[None]:
    yield
    HTTP.close()


def send(
    sim: GraphApiSimulator,
    body: dict[str, Any],
    *,
    number: str = NUMBER,
    token: str | None = TOKEN,
    timeout: float = 5.0,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return HTTP.post(
        f"{sim.url}/v24.0/{number}/messages", json=body, headers=headers, timeout=timeout
    )


def assert_graph_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and isinstance(error["type"], str)
    assert error["fbtrace_id"]
    return error


# --- sends ----------------------------------------------------------------------------------


def test_a_text_send_gets_metas_success_shape_and_is_logged(simulator) -> None:
    sim = simulator()
    request = fixture("send_text_request.json")

    response = send(sim, request)

    assert response.status_code == 200
    body = response.json()
    expected = fixture("send_text_response.json")
    assert body.keys() == expected.keys()
    assert body["contacts"] == expected["contacts"]  # same recipient, same input and wa_id
    wamid = body["messages"][0]["id"]
    assert wamid.startswith("wamid.") and wamid != expected["messages"][0]["id"]
    (logged,) = sim.sent()
    assert (logged.wamid, logged.to, logged.type, logged.fault) == (wamid, TO, "text", None)
    assert logged.request == request
    assert logged.phone_number_id == NUMBER
    assert sim.counts().accepted == 1


MEDIA_ID = {"id": "1013859600285441"}
BUTTONS = {
    "type": "button",
    "body": {"text": "Which day suits you?"},
    "action": {
        "buttons": [
            {"type": "reply", "reply": {"id": "fri", "title": "Friday"}},
            {"type": "reply", "reply": {"id": "sat", "title": "Saturday"}},
        ]
    },
}
LIST = {
    "type": "list",
    "body": {"text": "Pick a service"},
    "action": {
        "button": "Services",
        "sections": [{"title": "Care", "rows": [{"id": "clean", "title": "Cleaning"}]}],
    },
}
TEMPLATE = {
    "name": "appointment_reminder",
    "language": {"code": "en_US"},
    "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}],
}


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("template", TEMPLATE),
        ("image", {**MEDIA_ID, "caption": "Our clinic"}),
        ("audio", MEDIA_ID),
        ("video", {"link": "https://example.com/tour.mp4"}),
        ("document", {"link": "https://example.com/prices.pdf", "filename": "prices.pdf"}),
        ("sticker", MEDIA_ID),
        ("interactive", BUTTONS),
        ("interactive", LIST),
    ],
)
def test_every_supported_kind_is_accepted_with_reply_context_and_callback(
    simulator, kind: str, content: dict[str, Any]
) -> None:
    sim = simulator(send_statuses=False)
    body = {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": kind,
        kind: content,
        "context": {"message_id": "wamid.INBOUND="},
        "biz_opaque_callback_data": "outbound:42",
    }

    response = send(sim, body)

    assert response.status_code == 200, response.text
    (logged,) = sim.sent()
    assert (logged.type, logged.callback_data) == (kind, "outbound:42")
    if kind == "template":
        assert response.json()["messages"][0]["message_status"] == "accepted"


@pytest.mark.parametrize(
    "body",
    [
        text_send(messaging_product="sms"),
        {k: v for k, v in text_send().items() if k != "to"},
        text_send(to="not a number"),
        text_send(type="carousel"),
        {k: v for k, v in text_send().items() if k != "text"},
        text_send(text={"body": ""}),
        text_send(text={"body": "x" * 4097}),
        {"messaging_product": "whatsapp", "to": TO, "type": "image", "image": {}},
        {"messaging_product": "whatsapp", "to": TO, "type": "template", "template": {"name": "x"}},
        {
            "messaging_product": "whatsapp",
            "to": TO,
            "type": "interactive",
            "interactive": {**BUTTONS, "action": {"buttons": BUTTONS["action"]["buttons"] * 2}},
        },
        text_send(context={"id": "wamid.X"}),
        text_send(biz_opaque_callback_data="x" * 513),
    ],
)
def test_invalid_sends_get_code_100_and_are_not_logged(simulator, body: dict[str, Any]) -> None:
    sim = simulator()

    response = send(sim, body)

    error = assert_graph_error(response, 400, 100)
    assert error["message"] == "(#100) Invalid parameter"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["error_data"]["details"]
    assert sim.sent() == []
    assert sim.counts().rejected == 1


def test_wrong_missing_or_foreign_tokens_are_refused(simulator) -> None:
    sim = simulator()

    assert_graph_error(send(sim, text_send(), token="wrong"), 401, 190)
    assert_graph_error(send(sim, text_send(), token=None), 401, 190)
    # A valid token of another business: Graph says the number does not exist for it.
    foreign = assert_graph_error(send(sim, text_send(), token=OTHER_TOKEN), 400, 100)
    assert foreign["error_subcode"] == 33
    assert_graph_error(send(sim, text_send(), number="999"), 400, 100)

    assert sim.sent() == []
    assert sim.counts().rejected == 4


def test_mark_read_with_typing_indicator_answers_success(simulator) -> None:
    sim = simulator()
    request = fixture("mark_read_typing_request.json")

    response = send(sim, request)

    assert response.status_code == 200
    assert response.json() == {"success": True}
    (read,) = sim.reads()
    assert (read.message_id, read.typing_indicator) == (request["message_id"], True)
    assert sim.sent() == []


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("429", 400, 130429), ("131056", 400, 131056), ("500", 500, 131000), ("131047", 400, 131047)],
)
def test_refusing_faults_answer_like_meta_and_send_nothing(
    simulator, fault: str, status: int, code: int
) -> None:
    sim = simulator(faults={fault: 1.0})

    response = send(sim, text_send())

    error = assert_graph_error(response, status, code)
    assert error["message"].startswith(f"(#{code}) ")
    assert error["error_data"]["details"]
    assert sim.sent() == []
    assert sim.counts().faults == {key: int(key == fault) for key in FAULTS}


def test_rate_limit_can_come_with_http_429(simulator) -> None:
    sim = simulator(faults={"429": 1.0}, rate_limit_http_status=429)

    assert_graph_error(send(sim, text_send()), 429, 130429)


def test_timeout_fault_accepts_the_send_but_the_client_times_out(
    simulator, receiver: Receiver
) -> None:
    sim = simulator(faults={"timeout": 1.0}, timeout_hold_s=1.0)

    with pytest.raises(httpx.ReadTimeout):
        send(sim, text_send(biz_opaque_callback_data="out-7"), timeout=0.2)

    (logged,) = sim.sent()
    assert logged.fault == "timeout"
    assert sim.counts().faults["timeout"] == 1
    # The provider did accept it: its statuses arrive, carrying our id.
    assert sim.wait_for_webhooks(5)
    statuses = receiver.by_message()[logged.wamid]
    assert {s.callback_data for s in statuses} == {"out-7"}


def test_drop_fault_accepts_the_send_and_closes_without_an_answer(simulator) -> None:
    sim = simulator(faults={"drop": 1.0})

    with httpx.Client(timeout=5) as client, pytest.raises(httpx.TransportError):
        client.post(
            f"{sim.url}/v24.0/{NUMBER}/messages",
            json=text_send(),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

    (logged,) = sim.sent()
    assert logged.fault == "drop"
    assert sim.counts().faults["drop"] == 1


def test_fault_rates_repeat_with_the_same_seed(simulator) -> None:
    def outcomes(seed: int) -> list[int]:
        sim = simulator(faults={"429": 0.3, "500": 0.2}, seed=seed, send_statuses=False)
        return [send(sim, text_send()).status_code for _ in range(30)]

    first = outcomes(7)

    assert first == outcomes(7)
    assert {200, 400, 500} <= set(first)


def test_config_refuses_unknown_faults_and_rates_over_one() -> None:
    route = {"1": TenantRoute("http://127.0.0.1:9/x", "s", "t")}
    with pytest.raises(ValueError, match="unknown fault"):
        SimulatorConfig(routes=route, faults={"connect": 0.1})
    with pytest.raises(ValueError, match="more than 1"):
        SimulatorConfig(routes=route, faults={"429": 0.6, "drop": 0.6})


# --- status webhooks ------------------------------------------------------------------------


def test_statuses_arrive_signed_in_order_with_callback_data(simulator, receiver: Receiver) -> None:
    sim = simulator()

    first = send(sim, text_send(biz_opaque_callback_data="outbound:1")).json()
    second = send(sim, text_send(), number=OTHER_NUMBER, token=OTHER_TOKEN).json()
    assert sim.wait_for_webhooks(5)

    assert receiver.bad_signatures == 0
    statuses = receiver.by_message()
    mine = statuses[first["messages"][0]["id"]]
    assert [s.status.value for s in mine] == ["sent", "delivered", "read"]
    assert {(s.recipient_id, s.callback_data) for s in mine} == {("16505551234", "outbound:1")}
    assert all(abs(s.at.timestamp() - time.time()) < 10 for s in mine)
    theirs = statuses[second["messages"][0]["id"]]
    assert [s.callback_data for s in theirs] == [None, None, None]
    paths = {path for path, s in receiver.statuses if s in theirs}
    assert paths == {"/webhooks/whatsapp/other"}
    assert sim.counts().webhooks_delivered == 6


def test_shuffled_statuses_can_arrive_read_before_sent(simulator, receiver: Receiver) -> None:
    sim = simulator(shuffle_statuses=True, seed=3, status_delays_ms=(0, 60, 120))

    for _ in range(6):
        send(sim, text_send())
    assert sim.wait_for_webhooks(5)

    orders = [[s.status.value for s in group] for group in receiver.by_message().values()]
    assert len(orders) == 6
    assert all(sorted(order) == ["delivered", "read", "sent"] for order in orders)
    assert any(order != ["sent", "delivered", "read"] for order in orders)
    # Timestamps keep the true order whatever the arrival order.
    for group in receiver.by_message().values():
        at = {s.status.value: s.at for s in group}
        assert at["sent"] <= at["delivered"] <= at["read"]


def test_fail_recipients_get_a_failed_status_with_the_chosen_code(
    simulator, receiver: Receiver
) -> None:
    sim = simulator(fail_recipients={"16505551234": 131026})

    wamid = send(sim, text_send(biz_opaque_callback_data="out-9")).json()["messages"][0]["id"]
    assert sim.wait_for_webhooks(5)

    statuses = receiver.by_message()[wamid]
    assert [s.status.value for s in statuses] == ["sent", "failed"]
    (error,) = statuses[-1].errors
    assert (error.code, error.title) == (131026, "Message undeliverable")
    assert statuses[-1].callback_data == "out-9"


def test_rejected_webhooks_are_retried_then_given_up(simulator, receiver: Receiver) -> None:
    receiver.answers = [500, 503]
    sim = simulator(status_delays_ms=(0, 0, 0), webhook_attempts=3)

    send(sim, text_send())
    assert sim.wait_for_webhooks(5)
    counts = sim.counts()
    assert counts.webhooks_delivered == 3
    assert counts.webhook_retries == 2
    assert counts.webhooks_undelivered == 0
    assert sim.undelivered() == []

    receiver.answers = [500] * 9
    wamid = send(sim, text_send()).json()["messages"][0]["id"]
    assert sim.wait_for_webhooks(5)
    counts = sim.counts()
    assert counts.webhooks_undelivered == 3
    assert counts.webhook_retries == 2 + 6
    # Which statuses never arrived: what a harness must not expect to find applied.
    assert sorted(sim.undelivered()) == sorted((wamid, s) for s in ("sent", "delivered", "read"))


# --- log --------------------------------------------------------------------------------------


def test_the_log_endpoint_serves_sends_reads_and_counts(simulator) -> None:
    sim = simulator(send_statuses=False, faults={"drop": 0.5}, seed=1)
    for _ in range(8):
        with contextlib.suppress(httpx.TransportError):
            send(sim, text_send(biz_opaque_callback_data="out"))
    send(sim, fixture("mark_read_typing_request.json"))

    log = httpx.get(f"{sim.url}/_simulator/log").json()

    assert [s["wamid"] for s in log["sent"]] == [s.wamid for s in sim.sent()]
    assert len(log["sent"]) == 8
    assert {s["callback_data"] for s in log["sent"]} == {"out"}
    assert {s["fault"] for s in log["sent"]} == {None, "drop"}
    assert log["sent"][0]["request"]["text"]["body"].startswith("As requested")
    assert len(log["reads"]) == 1
    assert log["counts"]["accepted"] == 8
    assert log["counts"]["faults"]["drop"] == sum(s["fault"] == "drop" for s in log["sent"])


# --- CLI --------------------------------------------------------------------------------------


def test_cli_serves_the_tenants_from_the_database(tenant, receiver: Receiver) -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "ops", "simulate", "graph-api", "--port", "0",
            "--tenant", tenant.slug, "--webhook-base", receiver.url, "--status-delays", "0,0,0",
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
        url = text.split("Graph API simulator on ", 1)[1].split()[0]
        assert f"WHATSAPP_API_BASE_URL={url}/v24.0" in text
        assert f"{receiver.url}/webhooks/whatsapp/{tenant.slug}" in text

        response = httpx.post(
            f"{url}/v24.0/{tenant.wa_phone_number_id}/messages",
            json=text_send(biz_opaque_callback_data="cli"),
            headers={"Authorization": f"Bearer {tenant.wa_access_token}"},
            timeout=5,
        )
        assert response.status_code == 200
        deadline = time.monotonic() + 5
        while len(receiver.statuses) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [s.callback_data for _, s in receiver.statuses] == ["cli"] * 3
        assert httpx.get(f"{url}/_simulator/log").json()["counts"]["accepted"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=10)[0]
        watchdog.cancel()
    assert proc.returncode == 0
    assert "stopped: 1 sends accepted" in output


def test_cli_refuses_bad_options_before_touching_the_database() -> None:
    result = CliRunner().invoke(
        main,
        ["simulate", "graph-api", "--fault", "connect=0.1"],
        env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:9/none"},
    )

    assert result.exit_code == 2
    assert "unknown fault ['connect']" in result.output
