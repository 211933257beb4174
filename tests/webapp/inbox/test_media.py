"""Inbound media through the page's route, fetched from the real Graph API simulator."""

from collections.abc import Callable, Iterator

import psycopg
import pytest
from flask.testing import FlaskClient

from actors.clients.whatsapp_media import MAX_BYTES
from db.tenants import Tenant
from ops.simulators.graph_api import (
    GraphApiSimulator,
    SimulatorConfig,
    TenantRoute,
    simulated_media,
)
from tests.conftest import GRAPH_API_PORT
from tests.support.timeline import add_message, make_conversation

TOKEN = "acme-access-token"


@pytest.fixture
def graph_api(tenant: Tenant) -> Iterator[Callable[..., GraphApiSimulator]]:
    """Starts the simulator where the app's settings point, with the given options."""
    started: list[GraphApiSimulator] = []

    def start(token: str = TOKEN, **options: object) -> GraphApiSimulator:
        # Media need no status webhooks: nothing is sent here.
        route = TenantRoute(webhook_url="http://127.0.0.1:9/", app_secret="s", access_token=token)
        config = SimulatorConfig(
            routes={tenant.wa_phone_number_id: route},
            port=GRAPH_API_PORT,
            send_statuses=False,
            **options,
        )
        simulator = GraphApiSimulator(config).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


def _media_message(
    db: psycopg.Connection, tenant: Tenant, media_id: str, *, type: str = "image", **media: object
) -> int:
    conversation = make_conversation(db, tenant.id)
    return add_message(
        db,
        tenant.id,
        conversation,
        type=type,
        text=None,
        media={"media_id": media_id, "mime_type": "image/png", **media},
    )


def _kinds(simulator: GraphApiSimulator) -> list[tuple[str, int]]:
    return [(r.kind, r.status) for r in simulator.media_requests()]


def _no_secret(response_text: bytes, headers: dict[str, str], simulator: GraphApiSimulator):
    everything = response_text + repr(headers).encode()
    assert TOKEN.encode() not in everything
    assert simulator.url.encode() not in everything
    assert b"_simulator/media" not in everything


def test_an_image_is_streamed_through(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api
) -> None:
    simulator = graph_api()
    message = _media_message(db, tenant, "photo-1")
    response = agent_client.get(f"/t/acme/media/{message}")
    assert response.status_code == 200
    mime, content = simulated_media("photo-1")
    assert response.data == content and response.mimetype == mime == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["Content-Disposition"] == "inline"
    assert _kinds(simulator) == [("url", 200), ("download", 200)]
    _no_secret(response.data, dict(response.headers), simulator)
    # The page shows it from this route only.
    conversation = db.execute("SELECT conversation_id FROM messages WHERE id = %s", (message,))
    html = agent_client.get(f"/t/acme/c/{conversation.fetchone()[0]}")
    assert f'<img class="media" src="/t/acme/media/{message}"' in html.get_data(as_text=True)
    _no_secret(html.data, dict(html.headers), simulator)


def test_audio_plays_and_a_document_downloads(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api
) -> None:
    graph_api(media={"doc-1": ("text/html", b"<script>alert(1)</script>")})
    audio = _media_message(db, tenant, "audio-1", type="audio", mime_type="audio/ogg")
    response = agent_client.get(f"/t/acme/media/{audio}")
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    assert response.data.startswith(b"RIFF") and response.data == simulated_media("audio-1")[1]

    document = _media_message(db, tenant, "doc-1", type="document", filename='a"b<c>.html')
    response = agent_client.get(f"/t/acme/media/{document}")
    # Served as a download, never as this site's HTML.
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="abc.html"'


def test_media_the_provider_no_longer_has_is_a_404_page(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api
) -> None:
    simulator = graph_api(media_errors={"gone": (404,)})
    message = _media_message(db, tenant, "gone")
    response = agent_client.get(f"/t/acme/media/{message}")
    assert response.status_code == 404
    assert "WhatsApp" in response.get_data(as_text=True)
    # Permanent: asked once, not retried.
    assert _kinds(simulator) == [("url", 404)]


def test_a_server_error_is_retried(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api
) -> None:
    simulator = graph_api(media_errors={"flaky": (500, 503)})
    message = _media_message(db, tenant, "flaky")
    response = agent_client.get(f"/t/acme/media/{message}")
    assert response.status_code == 200 and response.data == simulated_media("flaky")[1]
    assert _kinds(simulator) == [("url", 500), ("url", 503), ("url", 200), ("download", 200)]


def test_a_provider_that_keeps_failing_is_a_502_page(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api
) -> None:
    simulator = graph_api(media_errors={"down": (500, 500, 500, 500)})
    message = _media_message(db, tenant, "down")
    response = agent_client.get(f"/t/acme/media/{message}")
    assert response.status_code == 502
    assert _kinds(simulator) == [("url", 500)] * 3
    _no_secret(response.data, dict(response.headers), simulator)


def test_a_failing_download_is_retried_too(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api
) -> None:
    # 0: the URL is answered normally; the 502 then hits the download, which is asked again.
    simulator = graph_api(media_errors={"dl": (0, 502)})
    message = _media_message(db, tenant, "dl")
    response = agent_client.get(f"/t/acme/media/{message}")
    assert response.status_code == 200 and response.data == simulated_media("dl")[1]
    assert _kinds(simulator) == [("url", 200), ("download", 502), ("download", 200)]


def test_an_oversized_file_is_refused_before_download(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api
) -> None:
    simulator = graph_api(media={"big": ("video/mp4", b"\0" * (MAX_BYTES + 1))})
    message = _media_message(db, tenant, "big", type="video")
    response = agent_client.get(f"/t/acme/media/{message}")
    assert response.status_code == 502
    assert "demasiado grande" in response.get_data(as_text=True)
    assert _kinds(simulator) == [("url", 200)]


def test_a_refused_token_is_a_502_page_without_the_token(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api
) -> None:
    simulator = graph_api(token="another-token")
    message = _media_message(db, tenant, "photo-2")
    response = agent_client.get(f"/t/acme/media/{message}")
    assert response.status_code == 502
    assert _kinds(simulator) == [("url", 401)]
    _no_secret(response.data, dict(response.headers), simulator)


def test_no_media_no_fetch(
    agent_client: FlaskClient,
    db: psycopg.Connection,
    tenant: Tenant,
    other_tenant: Tenant,
    graph_api,
) -> None:
    simulator = graph_api()
    conversation = make_conversation(db, tenant.id)
    text = add_message(db, tenant.id, conversation)
    outbound = add_message(db, tenant.id, conversation, direction="out", media={"media_id": "x"})
    theirs = make_conversation(db, other_tenant.id)
    foreign = add_message(
        db, other_tenant.id, theirs, type="image", text=None, media={"media_id": "theirs"}
    )
    for message in (text, outbound, foreign, 999_999):
        assert agent_client.get(f"/t/acme/media/{message}").status_code == 404
    assert simulator.media_requests() == []


def test_a_head_request_answers_the_headers_only(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api
) -> None:
    simulator = graph_api()
    message = _media_message(db, tenant, "photo-3")
    response = agent_client.head(f"/t/acme/media/{message}")
    assert response.status_code == 200 and response.data == b""
    assert response.headers["Content-Length"] == str(len(simulated_media("photo-3")[1]))
    response.close()
    assert [kind for kind, _ in _kinds(simulator)] == ["url", "download"]
