"""Operator input: a clear one-line error, nothing lost, never a traceback (issue 10, section 3)."""

import json
import re

import click
import psycopg
import pytest
from click.testing import CliRunner, Result

from ops.cli import main
from tests.conftest import count
from tests.domain.sample_profile import CLINIC_PROFILE
from tests.ops.test_conversations_cli import add_conversation, add_message, status_of


def recado(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


@pytest.fixture
def other_tenant(db: psycopg.Connection):
    from db.tenants import create_tenant

    return create_tenant(
        db,
        slug="beta",
        name="Beta Shop",
        wa_phone_number_id="2000",
        wa_app_secret="beta-secret",
        wa_verify_token="beta-verify",
        wa_access_token="beta-access",
    )


def error_line(result: Result) -> str:
    """The one line that says what was wrong."""
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


# --- 1. numeric options ---------------------------------------------------------------------


def _commands(group: click.Group, path: str = "recado") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{path} {name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{path} {name}"))
    return found


def test_every_numeric_option_and_argument_has_a_bounded_range() -> None:
    unbounded = [
        f"{path} {param.name}"
        for path, command in _commands(main)
        for param in command.params
        if isinstance(param.type, click.types._NumberParamTypeBase)
        and not (
            isinstance(param.type, click.types._NumberRangeBase)
            and param.type.min is not None
            and param.type.max is not None
        )
    ]
    assert unbounded == []


@pytest.mark.parametrize(
    "args",
    [
        ("quarantine", "list", "--limit", "-5"),
        ("quarantine", "show", "99999999999999999999"),
        ("dead-letters", "list", "--limit", "0"),
        ("conversations", "show", "--tenant", "acme", "0"),
        ("dead-letters", "list", "--since", "99999999d"),
    ],
)
def test_a_number_out_of_range_is_one_line_naming_the_option(db: psycopg.Connection, args) -> None:
    result = recado(*args)
    assert result.exit_code == 2
    assert "is not in the range" in error_line(result) or "before the year 1" in error_line(result)


# --- 2. messages send ------------------------------------------------------------------------

WA_ID = "5215512345678"


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "non-empty"), ("   ", "non-empty"), ("x" * 4097, "longer than 4096")],
)
def test_send_refuses_a_text_whatsapp_would_refuse_and_changes_nothing(
    db: psycopg.Connection, tenant, text: str, reason: str
) -> None:
    conversation = add_conversation(db, tenant.id, WA_ID)
    result = recado("messages", "send", "--tenant", "acme", "--to", WA_ID, "--text", text)
    assert result.exit_code == 1
    assert reason in error_line(result)
    assert status_of(db, conversation) == "open"
    assert count(db, "messages") == 0
    assert count(db, "dramatiq.queue") == 0


def test_send_takes_the_number_as_people_write_it(db: psycopg.Connection, tenant) -> None:
    conversation = add_conversation(db, tenant.id, WA_ID)
    result = recado(
        "messages", "send", "--tenant", "acme", "--to", "+52 1 55 1234-5678", "--text", "hola"
    )
    assert result.exit_code == 0, result.output
    assert f"in conversation {conversation}" in result.output
    assert count(db, "messages", f"conversation_id = {conversation} AND direction = 'out'") == 1


@pytest.mark.parametrize(
    ("to", "said"),
    [
        ("+52 1 55 9999 0000", "contact 521********00 has no open conversation with acme"),
        ("hello", "--to: 'hello' is not a phone number"),
    ],
)
def test_send_to_an_unknown_contact_names_it_masked(db, tenant, to: str, said: str) -> None:
    add_conversation(db, tenant.id, WA_ID)
    result = recado("messages", "send", "--tenant", "acme", "--to", to, "--text", "hola")
    assert result.exit_code == 1
    assert said in error_line(result)
    assert count(db, "messages") == 0


# --- 3. tenant settings ----------------------------------------------------------------------


def parked_plan_jobs(db: psycopg.Connection) -> list[tuple[str, str, list, int]]:
    """(queue, state, args, seconds from now to eta) of every plan_reply job."""
    return db.execute(
        "SELECT queue_name, state::text, message->'args',"
        " ((message->'options'->>'eta')::bigint / 1000 - extract(epoch FROM now()))::int"
        " FROM dramatiq.queue WHERE message->>'actor_name' = 'plan_reply' ORDER BY mtime"
    ).fetchall()


def test_a_quiet_window_of_thirty_years_is_refused(db: psycopg.Connection, tenant) -> None:
    result = recado("tenants", "settings", "set", "acme", "quiet_window_seconds", "1e9")
    assert result.exit_code == 1
    assert "quiet_window_seconds must be 0 to 600 seconds, not 1e9" in error_line(result)
    assert db.execute("SELECT settings FROM tenants").fetchone()[0] == {}


@pytest.mark.parametrize("change", [("set", "quiet_window_seconds", "3"), ("unset", "q")])
def test_lowering_the_window_brings_a_parked_reply_forward(db, tenant, change) -> None:
    from actors.chain import enqueue
    from actors.plan import plan_reply

    # Scheduled before the bound existed, with a window of 1e9 s: the reply was due in 2058.
    conversation = add_conversation(db, tenant.id, WA_ID)
    message = add_message(db, tenant.id, conversation, "in", "hola")
    with db.transaction():
        enqueue(db, [plan_reply.message(conversation, message)], delay_ms=10**12)
    [(queue, state, args, eta)] = parked_plan_jobs(db)
    assert (queue, state, args) == ("assistant.DQ", "queued", [conversation, message])
    assert eta > 30 * 365 * 86400

    args = change if change[0] == "set" else ("unset", "quiet_window_seconds")
    result = recado("tenants", "settings", args[0], "acme", *args[1:])

    assert result.exit_code == 0, result.output
    assert "1 scheduled replies moved up to the new quiet window" in result.output
    old, new = parked_plan_jobs(db)
    assert old[:2] == ("assistant.DQ", "done")
    assert new[:3] == ("assistant.DQ", "queued", [conversation, message])
    # The new window (3 s, or the 2 s default), counted from the command: generous bound.
    assert new[3] <= 3


def test_other_tenants_parked_replies_are_left_alone(db, tenant, other_tenant) -> None:
    from actors.chain import enqueue
    from actors.plan import plan_reply

    conversation = add_conversation(db, other_tenant.id, WA_ID)
    message = add_message(db, other_tenant.id, conversation, "in", "hola")
    with db.transaction():
        enqueue(db, [plan_reply.message(conversation, message)], delay_ms=10**12)

    result = recado("tenants", "settings", "set", "acme", "quiet_window_seconds", "1")

    assert result.exit_code == 0, result.output
    assert [state for _, state, _, _ in parked_plan_jobs(db)] == ["queued"]


def test_changing_pacing_paces_waiting_sends_again_under_the_new_rates(
    db, tenant, other_tenant
) -> None:
    from actors.chain import enqueue
    from actors.middleware import DEAD_LETTER_OPTION
    from actors.send import send_message

    # One message an hour to a recipient: a send waits an hour for its turn.
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (json.dumps({"pacing": {"recipient": {"per_second": 0.0002778, "burst": 1}}}), tenant.id),
    )
    conversation = add_conversation(db, tenant.id, WA_ID)
    message = add_message(db, tenant.id, conversation, "out", "hola", "agent")
    db.execute(
        "INSERT INTO send_pacing (key, tat) VALUES (%s, now() + interval '1 hour'),"
        " (%s, now() + interval '1 hour'), (%s, now() + interval '1 hour')",
        (f"r:{tenant.id}:{WA_ID}", "n:106540352242922", f"r:{other_tenant.id}:{WA_ID}"),
    )
    waiting = send_message.message_with_options(
        args=(message,), retries=2, **{DEAD_LETTER_OPTION: 5}
    )
    with db.transaction():
        enqueue(db, [waiting], delay_ms=3_600_000)

    result = recado(
        "tenants", "settings", "set", "acme", "pacing",
        '{"recipient": {"per_second": 0.5, "burst": 2}}',
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "1 waiting sends paced again under the new rates" in result.output
    rows = db.execute(
        "SELECT queue_name, state::text, message->'args', message->'options'"
        " FROM dramatiq.queue ORDER BY mtime"
    ).fetchall()
    assert [row[:3] for row in rows] == [
        ("send.DQ", "done", [message]),
        ("send", "queued", [message]),
    ]
    assert rows[1][3]["retries"] == 2 and rows[1][3][DEAD_LETTER_OPTION] == 5
    assert "eta" not in rows[1][3]
    kept = db.execute("SELECT key FROM send_pacing").fetchall()
    assert kept == [(f"r:{other_tenant.id}:{WA_ID}",)]


def test_the_redis_pacer_forgets_one_tenants_keys_only(db) -> None:
    import uuid

    import redis

    from actors.pacing import RedisPacer
    from domain.pacing import Rate

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=2)
    pacer = RedisPacer(client)
    run = uuid.uuid4().hex
    mine, number, theirs = f"r:{run}1:a", f"n:{run}", f"r:{run}2:a"
    slow = Rate(per_second=1 / 3600, burst=1)
    assert pacer.take(db, [(mine, slow), (number, slow), (theirs, slow)]) is None

    pacer.forget(db, f"r:{run}1:", [number])

    left = {key.decode() for key in client.scan_iter(match=f"recado:pace:*{run}*")}
    assert left == {f"recado:pace:{theirs}"}
    client.delete(*left)


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        (
            "pacing",
            '{"recipient": {"per_second": 0.5, "burst": 2}}',
            {"recipient": {"per_second": 0.5, "burst": 2}},
        ),
        (
            "reengagement_template",
            '{"name": "hola_de_nuevo", "language": "es_MX"}',
            {"name": "hola_de_nuevo", "language": "es_MX"},
        ),
    ],
)
def test_documented_settings_are_settable(db, tenant, key: str, value: str, stored) -> None:
    result = recado("tenants", "settings", "set", "acme", key, value)
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT settings FROM tenants").fetchone()[0] == {key: stored}


# --- 4. profile keys and versions ------------------------------------------------------------


def write_profile(tmp_path, name: str, profile: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(profile, ensure_ascii=False), encoding="utf-8")
    return str(path)


def current_profile(db: psycopg.Connection):
    return db.execute("SELECT profile FROM tenants WHERE slug = 'acme'").fetchone()[0]


@pytest.mark.parametrize(
    ("typo", "said"),
    [
        (
            {"name": "Sonrisa", "servicios": [{"name": "Limpieza", "price": 800}]},
            "unknown key 'servicios' (did you mean 'services'? known: name, tone,",
        ),
        (
            {"name": "Sonrisa", "horario": {"mon": ["09:00-18:00"]}},
            "unknown key 'horario' (did you mean 'hours'?",
        ),
        (
            {"services": [{"name": "Limpieza", "precio": 800}]},
            "unknown key 'services[0].precio' (did you mean 'price'? known: name, price,",
        ),
        ({"faq": [{"question": "q", "answr": "a"}]}, "did you mean 'answer'?"),
    ],
)
def test_a_misspelled_profile_key_is_refused_and_the_profile_kept(
    db, tenant, tmp_path, typo, said
) -> None:
    assert (
        recado(
            "tenants", "profile", "set", "acme", write_profile(tmp_path, "ok.json", CLINIC_PROFILE)
        ).exit_code
        == 0
    )

    result = recado("tenants", "profile", "set", "acme", write_profile(tmp_path, "typo.json", typo))

    assert result.exit_code == 1
    assert said in error_line(result)
    assert current_profile(db) == CLINIC_PROFILE


def test_a_profile_nested_too_deeply_is_one_line(db, tenant, tmp_path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000, encoding="utf-8")
    result = recado("tenants", "profile", "set", "acme", str(path))
    assert result.exit_code == 1
    assert "is nested too deeply to be a profile" in error_line(result)


def test_every_saved_profile_is_a_version_that_can_be_restored(db, tenant, tmp_path) -> None:
    smaller = {"name": "Sonrisa", "services": [{"name": "Limpieza", "price": 900}]}
    for name, profile in (("one.json", CLINIC_PROFILE), ("two.json", smaller)):
        assert (
            recado(
                "tenants", "profile", "set", "acme", write_profile(tmp_path, name, profile)
            ).exit_code
            == 0
        )
    assert recado("tenants", "profile", "clear", "acme").exit_code == 0

    history = recado("tenants", "profile", "history", "acme")
    restored = recado("tenants", "profile", "restore", "acme", "1")
    after = recado("tenants", "profile", "history", "acme")

    assert history.exit_code == 0, history.output
    lines = history.output.splitlines()
    assert lines[0].split() == ["VERSION", "SAVED", "PROFILE"]
    assert lines[1].split()[0] == "3" and "cleared: assistant off" in lines[1]
    assert lines[2].split()[0] == "2" and "Sonrisa (1 services, 0 FAQ entries" in lines[2]
    assert lines[3].split()[0] == "1" and "Clínica Dental Sonrisa (4 services" in lines[3]
    assert restored.exit_code == 0, restored.output
    assert "acme: version 1 restored as version 4: Clínica Dental Sonrisa" in restored.output
    assert current_profile(db) == CLINIC_PROFILE
    assert "(restored from version 1)" in after.output.splitlines()[1]


@pytest.mark.parametrize(
    ("version", "said"), [("7", "acme has no profile version 7"), ("1", "is a cleared profile")]
)
def test_restoring_what_is_not_a_profile_says_so(db, tenant, tmp_path, version, said) -> None:
    db.execute(
        "INSERT INTO profile_versions (tenant_id, version, profile) VALUES (%s, 1, NULL)",
        (tenant.id,),
    )
    result = recado("tenants", "profile", "restore", "acme", version)
    assert result.exit_code == 1
    assert said in error_line(result)


# --- 6. what the customer wrote while a person had the conversation --------------------------


def handed_off_with(db, tenant, *messages: tuple[str, str, str | None]) -> int:
    """A conversation with a person, holding (direction, text, author) messages in order."""
    conversation = add_conversation(db, tenant.id, WA_ID, status="handoff", reason="asked")
    for direction, text, author in messages:
        add_message(db, tenant.id, conversation, direction, text, author)
    return conversation


def plan_jobs(db: psycopg.Connection) -> list[list]:
    return [args for _, _, args, _ in parked_plan_jobs(db)]


def test_return_has_the_assistant_answer_what_nobody_answered(db, tenant) -> None:
    conversation = handed_off_with(
        db,
        tenant,
        ("in", "quiero una persona", None),
        ("out", "Te comunico con una persona", "handoff_notice"),
        ("in", "¿hola? ¿alguien?", None),
    )
    newest = db.execute("SELECT max(id) FROM messages WHERE direction = 'in'").fetchone()[0]

    result = recado("conversations", "return", "--tenant", "acme", str(conversation))

    assert result.exit_code == 0, result.output
    assert "it answers the 1 unanswered customer messages now" in result.output
    assert plan_jobs(db) == [[conversation, newest]]
    (replied_through,) = db.execute("SELECT replied_through FROM conversations").fetchone()
    assert replied_through == newest - 2


def test_return_after_the_person_answered_leaves_nothing_to_answer(db, tenant) -> None:
    conversation = handed_off_with(
        db,
        tenant,
        ("in", "quiero una persona", None),
        ("in", "¿hola?", None),
        ("out", "Hola, soy Marta", "agent"),
    )

    result = recado("conversations", "return", "--tenant", "acme", str(conversation))

    assert result.exit_code == 0, result.output
    assert result.output == f"conversation {conversation} is back with the assistant\n"
    assert plan_jobs(db) == []


def test_return_tells_the_person_when_the_tenant_wants_people_to_answer(db, tenant) -> None:
    assert (
        recado("tenants", "settings", "set", "acme", "unanswered_on_return", "person").exit_code
        == 0
    )
    conversation = handed_off_with(db, tenant, ("in", "¿hola?", None), ("in", "¿sigue ahí?", None))

    result = recado("conversations", "return", "--tenant", "acme", str(conversation))

    assert result.exit_code == 0, result.output
    assert "2 customer messages are still unanswered: answer them with" in result.output
    assert plan_jobs(db) == []


def test_list_needs_reply_shows_conversations_whose_customer_wrote_last(db, tenant) -> None:
    waiting = handed_off_with(db, tenant, ("in", "¿hola?", None))
    answered = add_conversation(db, tenant.id, "5215500000001")
    add_message(db, tenant.id, answered, "in", "hola")
    add_message(db, tenant.id, answered, "out", "¡Hola!", "assistant")
    failed = add_conversation(db, tenant.id, "5215500000002")
    add_message(db, tenant.id, failed, "in", "hola")
    reply = add_message(db, tenant.id, failed, "out", "¡Hola!", "assistant")
    db.execute("UPDATE messages SET delivery_status = 'failed' WHERE id = %s", (reply,))
    closed = add_conversation(db, tenant.id, "5215500000003", status="closed")
    add_message(db, tenant.id, closed, "in", "adiós")

    result = recado("conversations", "list", "--tenant", "acme", "--needs-reply")
    only_open = recado(
        "conversations", "list", "--tenant", "acme", "--needs-reply", "--status", "open"
    )
    closed_ones = recado(
        "conversations", "list", "--tenant", "acme", "--needs-reply", "--status", "closed"
    )

    assert result.exit_code == 0, result.output
    listed = [int(line.split()[0]) for line in result.output.splitlines()[1:]]
    assert sorted(listed) == sorted([waiting, failed])
    assert [int(line.split()[0]) for line in only_open.output.splitlines()[1:]] == [failed]
    assert closed_ones.output == "no closed conversations needing a reply for acme\n"


# --- 7. rotating a tenant's credentials ------------------------------------------------------


def credentials(db: psycopg.Connection, slug: str) -> tuple[str, str, str]:
    return db.execute(
        "SELECT wa_access_token, wa_app_secret, wa_verify_token FROM tenants WHERE slug = %s",
        (slug,),
    ).fetchone()


def test_update_rotates_the_named_secrets_read_from_stdin_without_echo(
    db, tenant, other_tenant, client, caplog
) -> None:
    caplog.set_level("DEBUG")
    result = recado(
        "tenants", "update", "acme", "--access-token", "--verify-token",
        stdin="EAAG-new-access\nnew-verify-token\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.output == "acme: access token, verify token replaced\n"
    assert credentials(db, "acme") == ("EAAG-new-access", "acme-app-secret", "new-verify-token")
    assert credentials(db, "beta") == ("beta-access", "beta-secret", "beta-verify")
    assert "new-" not in caplog.text
    # Meta's handshake now needs the new verify token.
    handshake = "/webhooks/whatsapp/acme?hub.mode=subscribe&hub.challenge=42&hub.verify_token="
    assert client.get(handshake + "new-verify-token").status_code == 200
    assert client.get(handshake + "acme-verify-token").status_code == 403


@pytest.mark.parametrize(
    ("args", "stdin", "said"),
    [
        ((), "", "name what to replace: --access-token, --app-secret, --verify-token"),
        (("--app-secret",), "\n", "the new app secret is empty"),
        (("--app-secret",), "pasted twice pasted twice\n", "app secret contains spaces"),
        (("--access-token", "--app-secret"), "only-one\n", "the new app secret is empty"),
    ],
)
def test_update_refuses_what_cannot_be_a_secret_and_changes_nothing(
    db, tenant, args, stdin, said
) -> None:
    result = recado("tenants", "update", "acme", *args, stdin=stdin)

    assert result.exit_code in (1, 2)
    assert said in error_line(result)
    assert "pasted" not in result.output and "only-one" not in result.output
    assert credentials(db, "acme") == ("acme-access-token", "acme-app-secret", "acme-verify-token")


def test_update_of_an_unknown_tenant_says_so(db) -> None:
    result = recado("tenants", "update", "nope", "--access-token", stdin="x\n")
    assert result.exit_code == 1
    assert "no tenant 'nope'" in error_line(result)


# --- 8. local times and the whole history ----------------------------------------------------


def show(conversation: int, *more: str) -> Result:
    return recado("conversations", "show", "--tenant", "acme", str(conversation), *more)


def test_times_are_shown_in_the_business_profiles_time_zone(db, tenant) -> None:
    db.execute(
        "UPDATE tenants SET profile = %s WHERE id = %s",
        (json.dumps({"timezone": "America/Mexico_City"}), tenant.id),
    )
    conversation = add_conversation(db, tenant.id, WA_ID)
    message = add_message(db, tenant.id, conversation, "in", "hola")
    db.execute(
        "UPDATE messages SET ordered_at = '2026-01-15 18:00:00+00' WHERE id = %s", (message,)
    )
    db.execute("UPDATE conversations SET last_inbound_at = '2026-01-15 18:00:00+00'")

    shown = show(conversation)
    listed = recado("conversations", "list", "--tenant", "acme")

    assert shown.exit_code == 0, shown.output
    assert "2026-01-15 12:00:00 CST" in shown.output
    assert "2026-01-15 12:00:00 CST" in listed.output
    assert "18:00:00" not in shown.output + listed.output


def test_show_pages_through_the_whole_history_and_cuts_no_text(db, tenant) -> None:
    conversation = add_conversation(db, tenant.id, WA_ID)
    long_text = "¿Cuánto cuesta la limpieza dental? " * 100
    ids = [add_message(db, tenant.id, conversation, "in", f"mensaje {n}") for n in range(44)]
    ids.append(add_message(db, tenant.id, conversation, "in", long_text))

    seen: list[int] = []
    page = show(conversation)
    pages = 1
    while True:
        assert page.exit_code == 0, page.output
        seen[:0] = [int(n) for n in re.findall(r"^(\d+) ", page.output, re.MULTILINE)]
        hint = re.search(r"older messages: recado (.*)$", page.output, re.MULTILINE)
        if hint is None:
            break
        page = recado(*hint.group(1).split())
        pages += 1

    assert pages == 3
    assert seen == ids
    assert long_text.strip() in show(conversation).output
    assert "…" not in show(conversation).output


def test_a_page_before_a_message_of_another_conversation_is_empty(db, tenant) -> None:
    conversation = add_conversation(db, tenant.id, WA_ID)
    add_message(db, tenant.id, conversation, "in", "hola")
    other = add_conversation(db, tenant.id, "5215500000009")
    foreign = add_message(db, tenant.id, other, "in", "secreto")

    result = show(conversation, "--before", str(foreign))

    assert result.exit_code == 0, result.output
    assert "secreto" not in result.output and "hola" not in result.output


def test_the_readme_settings_reference_lists_exactly_what_the_cli_accepts() -> None:
    from pathlib import Path

    from domain.tenant_settings import SETTINGS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| Key | Default | Accepts |") :].split("\n\n", 1)[0]
    documented = {
        key for row in table.splitlines()[2:] for key in re.findall(r"`(\w+)`", row.split("|")[1])
    }
    assert documented == set(SETTINGS)
