"""Plain-text output shared by the CLI commands.

Commands print only through `echo` and `format_table`: what they print can hold text customers
and providers wrote, and a terminal must not act on the control characters in it.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

import click

from domain.text import visible


def echo(message: str = "", *, err: bool = False) -> None:
    """click.echo with control and bidi characters rendered visibly; line breaks kept."""
    click.echo(visible(message, multiline=True), err=err)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns; the first row is the header. Each cell is one line: line breaks
    and control characters in it are rendered visibly."""
    shown = [[visible(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in shown) for i in range(len(shown[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in shown
    )


def format_time(value: datetime | None, zone: tzinfo | None = None) -> str:
    """The time in `zone` (a tenant's: see ops.tenant_lookup.tenant_zone), with its abbreviation;
    as stored (UTC) without one."""
    if value is None:
        return "-"
    shown = value.astimezone(zone) if zone is not None else value
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def format_age(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
