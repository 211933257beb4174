"""Text customers and providers control never reaches the operator's terminal raw.

Every text column a command prints is filled with escape sequences (clear screen, window title,
bell, a one-byte CSI) and a right-to-left override; no command may print any of them.
"""

import json
import re
import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.types.json import Jsonb

from db.profiles import set_profile
from db.tenants import create_tenant
from ops.cli import main
from tests.conftest import fixture_body, signed_headers

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\u202eevil\x9b31m\r"
# What a terminal acts on: C0 but newline and tab, DEL, C1, bidi controls, line separators.
RAW = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


@pytest.fixture
def hostile(db: psycopg.Connection, client) -> dict[str, int]:
    """A tenant, conversation, message, reply, notification, dead letter and quarantined bodies
    whose every free text is HOSTILE."""
    tenant = create_tenant(
        db,
        slug="acme",
        name=f"Acme {HOSTILE}",
        wa_phone_number_id="106540352242922",
        wa_app_secret="acme-app-secret",
        wa_verify_token="acme-verify-token",
        wa_access_token="acme-access-token",
    )
    set_profile(db, tenant.id, {"business": {"name": HOSTILE}, "faq": [{"q": HOSTILE}]})
    # The provider's error text becomes the pause reason `queue stats` prints.
    db.execute(
        "UPDATE tenants SET sending_paused_at = now(), sending_paused_reason = %s WHERE id = %s",
        (HOSTILE, tenant.id),
    )
    (contact,) = db.execute(
        "INSERT INTO contacts (tenant_id, channel, channel_user_id, phone_e164)"
        " VALUES (%s, 'whatsapp', '5215512345678', '+5215512345678') RETURNING id",
        (tenant.id,),
    ).fetchone()
    (conversation,) = db.execute(
        "INSERT INTO conversations (tenant_id, contact_id, channel, status, needs_human_reason,"
        " handoff_at, last_inbound_at) VALUES (%s, %s, 'whatsapp', 'handoff', %s, now(), now())"
        " RETURNING id",
        (tenant.id, contact, HOSTILE),
    ).fetchone()
    (message,) = db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,"
        " details) VALUES (%s, %s, 'whatsapp', 'in', 'text', %s, %s) RETURNING id",
        (tenant.id, conversation, HOSTILE, Jsonb({"author": HOSTILE})),
    ).fetchone()
    db.execute(
        "INSERT INTO replies (tenant_id, conversation_id, through_message_id, outcome, source,"
        " intent, handoff_reason, prompt_tokens, completion_tokens, cost_usd)"
        " VALUES (%s, %s, %s, 'handoff', 'llm', %s, %s, 1, 1, 0)",
        (tenant.id, conversation, message, HOSTILE, HOSTILE),
    )
    db.execute(
        "INSERT INTO agent_notifications (tenant_id, conversation_id, kind, reason)"
        " VALUES (%s, %s, 'handoff', %s)",
        (tenant.id, conversation, HOSTILE),
    )
    (dead_letter,) = db.execute(
        "INSERT INTO dead_letters (message_id, queue_name, actor, args, attempts, exception_type,"
        " exception_text, traceback) VALUES (%s, 'ingest', 'ingest_event', %s, 1, 'ValueError',"
        " %s, %s) RETURNING id",
        (uuid.uuid4(), Jsonb([HOSTILE]), HOSTILE, f"Traceback\n  {HOSTILE}"),
    ).fetchone()
    db.execute(
        "INSERT INTO quarantine (tenant_id, channel, reason, body) VALUES (%s, 'whatsapp', %s, %s)",
        (tenant.id, HOSTILE, HOSTILE.encode()),
    )
    # A signed body speaking for a "phone number" made of escapes: quarantined, and its replay's
    # error message quotes that number.
    foreign = fixture_body("text.json").replace(b'"106540352242922"', json.dumps(HOSTILE).encode())
    response = client.post("/webhooks/whatsapp/acme", data=foreign, headers=signed_headers(foreign))
    assert response.status_code == 200
    (foreign_id,) = db.execute("SELECT max(id) FROM quarantine").fetchone()
    return {"conversation": conversation, "dead_letter": dead_letter, "foreign": foreign_id}


COMMANDS = [
    "tenants list",
    "tenants profile show acme",
    "tenants settings show acme",
    "conversations list --tenant acme",
    "conversations list --tenant acme --needs-reply",
    "conversations show --tenant acme {conversation}",
    "conversations notifications --tenant acme",
    "dead-letters list",
    "dead-letters show {dead_letter}",
    "quarantine list",
    "quarantine show 1",
    "quarantine replay {foreign}",
    "queue stats",
    "cache stats",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_prints_control_or_bidi_characters(hostile, command: str) -> None:
    result = CliRunner().invoke(main, command.format(**hostile).split())

    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert RAW.findall(result.output) == []


def test_conversations_show_renders_escapes_visibly(hostile) -> None:
    result = CliRunner().invoke(
        main, ["conversations", "show", "--tenant", "acme", str(hostile["conversation"])]
    )

    assert result.exit_code == 0, result.output
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\u202eevil\\x9b31m\\r" in result.output
    assert "\x1b" not in result.output
    assert "\x07" not in result.output
    assert "\u202e" not in result.output


def test_replay_error_quoting_the_body_is_rendered_visibly(hostile) -> None:
    result = CliRunner().invoke(main, ["quarantine", "replay", str(hostile["foreign"])])

    assert result.exit_code == 1
    assert "still unparseable: phone_number_id \\x1b[2J" in result.output


def test_commands_print_only_through_the_rendering_echo() -> None:
    # click.echo anywhere but ops/output.py would bypass the rendering of control characters.
    offenders = [
        path.name
        for path in sorted((ROOT / "ops").glob("*.py"))
        if path.name != "output.py" and "click.echo(" in path.read_text()
    ]
    assert offenders == []
