"""The Graph API simulator's media endpoints over real HTTP, as Meta serves inbound media."""

import hashlib
import struct
import zlib

import httpx

from ops.simulators.graph_api import GraphApiSimulator, SimulatorConfig, TenantRoute

NUMBER, TOKEN = "106540352242922", "acme-access-token"
OTHER_NUMBER, OTHER_TOKEN = "200000000000002", "other-token"


def _simulator(**options: object) -> GraphApiSimulator:
    routes = {
        NUMBER: TenantRoute("http://127.0.0.1:9/", "s", TOKEN),
        OTHER_NUMBER: TenantRoute("http://127.0.0.1:9/", "s", OTHER_TOKEN),
    }
    return GraphApiSimulator(SimulatorConfig(routes=routes, send_statuses=False, **options))


def _get(url: str, token: str | None = TOKEN, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, params=params, timeout=5)


def test_a_media_id_answers_a_url_that_answers_the_bytes() -> None:
    with _simulator() as sim:
        meta = _get(f"{sim.url}/v24.0/photo-1", phone_number_id=NUMBER)
        assert meta.status_code == 200
        document = meta.json()
        assert document["id"] == "photo-1" and document["mime_type"] == "image/png"
        download = _get(document["url"])
        assert download.status_code == 200
        assert download.headers["Content-Type"] == "image/png"
        assert len(download.content) == document["file_size"]
        assert hashlib.sha256(download.content).hexdigest() == document["sha256"]
        # A valid PNG: signature, then an IHDR chunk whose CRC holds.
        content = download.content
        assert content.startswith(b"\x89PNG\r\n\x1a\n")
        (length,) = struct.unpack(">I", content[8:12])
        (crc,) = struct.unpack(">I", content[16 + length : 20 + length])
        assert crc == zlib.crc32(content[12 : 16 + length])
        # The same id gives the same bytes every time; another id, other bytes.
        again = _get(_get(f"{sim.url}/v24.0/photo-1").json()["url"]).content
        assert again == content
        assert _get(_get(f"{sim.url}/v24.0/photo-2").json()["url"]).content != content


def test_audio_ids_answer_a_wav_tone() -> None:
    with _simulator() as sim:
        document = _get(f"{sim.url}/v24.0/audio-7").json()
        assert document["mime_type"] == "audio/wav"
        content = _get(document["url"]).content
        assert content[:4] == b"RIFF" and content[8:12] == b"WAVE"


def test_the_token_is_required_and_must_own_the_number() -> None:
    with _simulator() as sim:
        assert _get(f"{sim.url}/v24.0/photo-1", token=None).status_code == 401
        assert _get(f"{sim.url}/v24.0/photo-1", token="nope").json()["error"]["code"] == 190
        url = _get(f"{sim.url}/v24.0/photo-1").json()["url"]
        assert _get(url, token=None).status_code == 401
        wrong = _get(f"{sim.url}/v24.0/photo-1", token=OTHER_TOKEN, phone_number_id=NUMBER)
        assert wrong.status_code == 400 and wrong.json()["error"]["error_subcode"] == 33
        kinds = [(r.media_id, r.kind, r.status) for r in sim.media_requests()]
        assert ("photo-1", "url", 401) in kinds and ("photo-1", "download", 401) in kinds


def test_configured_errors_come_first_then_the_media() -> None:
    with _simulator(media_errors={"m": (503, 0, 404)}, media={"m": ("video/mp4", b"v")}) as sim:
        assert _get(f"{sim.url}/v24.0/m").status_code == 503
        url = _get(f"{sim.url}/v24.0/m").json()["url"]
        assert _get(url).status_code == 404
        response = _get(url)
        assert (response.status_code, response.content) == (200, b"v")


def test_simulated_customers_send_media_the_simulator_serves() -> None:
    from domain.channels import whatsapp
    from ops.cli_simulate import build_bodies

    bodies = build_bodies(NUMBER, messages=6, contacts=2, media_every=3)
    parsed = [
        whatsapp.parse_message(event.item)
        for body in bodies
        for event in whatsapp.split_envelope(body)
    ]
    assert [m.type for m in parsed] == ["text", "text", "image", "text", "text", "audio"]
    photo, voice = parsed[2], parsed[5]
    assert photo.media is not None and photo.text == photo.media.caption
    assert voice.media is not None and voice.details["voice"] is True
    with _simulator() as sim:
        for message, mime in ((photo, "image/png"), (voice, "audio/wav")):
            assert message.media is not None
            document = _get(f"{sim.url}/v24.0/{message.media.media_id}").json()
            assert document["mime_type"] == message.media.mime_type == mime
