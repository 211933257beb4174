"""Listing dead letters: `limit=None` (what `tenants resume` passes) lists every one."""

from db.dead_letters import list_dead_letters
from tests.ops.test_dead_letters_cli import insert_dead_letter

DEFAULT_LIMIT = 100


def test_no_limit_lists_every_letter_and_the_default_stops_at_100(db) -> None:
    for _ in range(DEFAULT_LIMIT + 1):
        insert_dead_letter(db)

    assert len(list_dead_letters(db, limit=None)) == DEFAULT_LIMIT + 1
    assert len(list_dead_letters(db)) == DEFAULT_LIMIT
