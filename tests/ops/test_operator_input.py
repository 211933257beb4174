"""Operator input: a clear one-line error, nothing lost, never a traceback (issue 10, section 3)."""

import click
import psycopg
import pytest
from click.testing import CliRunner, Result

from ops.cli import main


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
