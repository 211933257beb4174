"""`recado quarantine`: a quarantined body is visible and, once parseable, replayed once."""

import json

from click.testing import CliRunner

from ops.cli import main
from tests.conftest import count, fixture_body, queued_jobs, signed_headers

URL = "/webhooks/whatsapp/acme"


def test_quarantined_body_is_listed_and_replayed_once(client, tenant, db):
    good = fixture_body("text.json")
    # Quarantined because it spoke for a phone number the tenant did not have yet.
    db.execute("UPDATE tenants SET wa_phone_number_id = '1' WHERE id = %s", (tenant.id,))
    assert client.post(URL, data=good, headers=signed_headers(good)).status_code == 200
    assert count(db, "quarantine") == 1
    runner = CliRunner()

    listed = runner.invoke(main, ["quarantine", "list"])
    assert listed.exit_code == 0, listed.output
    assert "106540352242922" in listed.output  # the reason names the foreign number

    still_bad = runner.invoke(main, ["quarantine", "replay", "1"])
    assert still_bad.exit_code == 1
    assert "still unparseable" in still_bad.output
    assert count(db, "inbound_events") == 0

    # The operator fixes the tenant's configuration: the replay now stores the event once.
    db.execute(
        "UPDATE tenants SET wa_phone_number_id = '106540352242922' WHERE id = %s", (tenant.id,)
    )
    replayed = runner.invoke(main, ["quarantine", "replay", "1"])
    assert replayed.exit_code == 0, replayed.output
    assert "1 new events" in replayed.output
    again = runner.invoke(main, ["quarantine", "replay", "1"])
    assert "already replayed" in again.output
    assert count(db, "inbound_events") == 1
    assert [actor for _, actor, _ in queued_jobs(db)] == ["ingest_event"]

    shown = runner.invoke(main, ["quarantine", "show", "1"])
    assert shown.exit_code == 0
    assert "Does it come in another color?" in shown.output
    assert runner.invoke(main, ["quarantine", "show", "99"]).exit_code == 1


def test_replaying_a_body_postgres_cannot_store_says_still_unparseable(client, tenant, db):
    # jsonb refuses \u0000: the webhook quarantined the body, and a replay meets the same wall.
    body = fixture_body("text.json").replace(b"another color?", b"another\\u0000 color?")
    assert client.post(URL, data=body, headers=signed_headers(body)).status_code == 200
    (quarantine_id,) = db.execute("SELECT id FROM quarantine").fetchone()

    result = CliRunner().invoke(main, ["quarantine", "replay", str(quarantine_id)])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert (
        f"{quarantine_id}: still unparseable: not storable: value refused by PostgreSQL"
        in result.output
    )
    assert count(db, "quarantine", "replayed_at IS NULL") == 1
    assert count(db, "inbound_events") == 0
    assert queued_jobs(db) == []


def test_body_kept_for_an_oversize_item_stays_quarantined_on_replay(client, tenant, db):
    envelope = json.loads(fixture_body("text.json"))
    messages = envelope["entry"][0]["changes"][0]["value"]["messages"]
    messages.insert(0, {**messages[0], "id": "wamid." + "x" * 3000})
    body = json.dumps(envelope).encode()
    assert client.post(URL, data=body, headers=signed_headers(body)).status_code == 200
    # The legitimate message is stored at once; the body waits in quarantine for the other.
    assert count(db, "inbound_events") == 1
    listed = CliRunner().invoke(main, ["quarantine", "list"])
    assert "message item 0: message.id is 3006 bytes" in listed.output

    replayed = CliRunner().invoke(main, ["quarantine", "replay", "1"])
    assert replayed.exit_code == 1
    assert "still refused" in replayed.output
    assert count(db, "quarantine", "replayed_at IS NULL") == 1
    assert count(db, "inbound_events") == 1
    assert len(queued_jobs(db)) == 1
