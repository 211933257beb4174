"""Operator input: a clear one-line error, nothing lost, never a traceback (issue 10, section 3)."""

import click
import psycopg
import pytest
from click.testing import CliRunner, Result

from ops.cli import main
from tests.conftest import count
from tests.ops.test_conversations_cli import add_conversation, status_of


def recado(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


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
    ],
)
def test_a_number_out_of_range_is_one_line_naming_the_option(db: psycopg.Connection, args) -> None:
    result = recado(*args)
    assert result.exit_code == 2
    assert "is not in the range" in error_line(result)


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
