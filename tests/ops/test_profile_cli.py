"""`recado tenants profile` and `recado tenants settings`: checked before anything is saved."""

import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.types.json import Jsonb

from db.tenants import Tenant, create_tenant
from ops.cli import main
from tests.domain.sample_profile import CLINIC_PROFILE


def recado(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def stored(db: psycopg.Connection, slug: str, column: str):
    return db.execute(f"SELECT {column} FROM tenants WHERE slug = %s", (slug,)).fetchone()[0]


@pytest.fixture
def other(db: psycopg.Connection) -> Tenant:
    return create_tenant(
        db,
        slug="beta",
        name="Beta Shop",
        wa_phone_number_id="2000",
        wa_app_secret="beta-secret",
        wa_verify_token="beta-verify",
        wa_access_token="beta-access",
    )


def profile_file(tmp_path: Path, data: object, name: str = "profile.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


# --- profile --------------------------------------------------------------------------------


def test_profile_set_then_show_round_trips_the_json(db, tenant, other, tmp_path) -> None:
    saved = recado("tenants", "profile", "set", "acme", profile_file(tmp_path, CLINIC_PROFILE))
    shown = recado("tenants", "profile", "show", "acme")

    assert saved.exit_code == 0, saved.output
    assert "Clínica Dental Sonrisa saved (4 services, 3 FAQ entries" in saved.output
    assert "America/Mexico_City" in saved.output
    assert stored(db, "acme", "profile") == CLINIC_PROFILE
    assert stored(db, "beta", "profile") is None
    assert shown.exit_code == 0
    assert json.loads(shown.output) == CLINIC_PROFILE
    assert "Clínica" in shown.output


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (
            {**CLINIC_PROFILE, "timezone": "America/Atlantis"},
            "unknown time zone 'America/Atlantis'",
        ),
        ({**CLINIC_PROFILE, "timezone": "../../etc/passwd"}, "unknown time zone"),
        ({**CLINIC_PROFILE, "language": "fr"}, "language must be one of es, en, not 'fr'"),
        ({**CLINIC_PROFILE, "hours": {"mon": ["19:00-09:00"]}}, "ends before it starts"),
        ({"services": [{"name": "Resina", "price": -1}]}, "services[0].price must not be negative"),
        (["not", "an", "object"], "the profile must be a JSON object"),
    ],
)
def test_an_invalid_profile_is_refused_and_the_old_one_kept(
    db, tenant, tmp_path, profile, message
) -> None:
    recado("tenants", "profile", "set", "acme", profile_file(tmp_path, CLINIC_PROFILE, "old.json"))

    result = recado("tenants", "profile", "set", "acme", profile_file(tmp_path, profile))

    assert result.exit_code == 1
    assert message in result.output
    assert stored(db, "acme", "profile") == CLINIC_PROFILE


def test_a_file_that_is_not_json_is_refused(db, tenant, tmp_path) -> None:
    path = tmp_path / "profile.json"
    path.write_text('{"name": "Sonrisa",', encoding="utf-8")

    result = recado("tenants", "profile", "set", "acme", str(path))

    assert result.exit_code == 1
    assert "is not valid JSON" in result.output
    assert stored(db, "acme", "profile") is None


def test_profile_clear_switches_the_assistant_off(db, tenant, tmp_path) -> None:
    recado("tenants", "profile", "set", "acme", profile_file(tmp_path, CLINIC_PROFILE))

    cleared = recado("tenants", "profile", "clear", "acme")
    again = recado("tenants", "profile", "clear", "acme")
    shown = recado("tenants", "profile", "show", "acme")

    assert cleared.exit_code == 0
    assert "profile removed; the assistant is off" in cleared.output
    assert db.execute("SELECT profile IS NULL FROM tenants WHERE slug = 'acme'").fetchone()[0]
    assert again.output.strip() == "acme: no profile"
    assert "acme has no profile: the assistant is off" in shown.output


@pytest.mark.parametrize(
    "command", [["profile", "show"], ["profile", "clear"], ["settings", "show"]]
)
def test_unknown_tenant_exits_1(db, command) -> None:
    result = recado("tenants", *command, "nobody")

    assert result.exit_code == 1
    assert "no tenant 'nobody'" in result.output


# --- settings -------------------------------------------------------------------------------


def test_settings_set_stores_typed_values_and_keeps_other_keys(db, tenant, other) -> None:
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (Jsonb({"read_receipts": True}), tenant.id),
    )

    window = recado("tenants", "settings", "set", "acme", "quiet_window_seconds", "5")
    keywords = recado("tenants", "settings", "set", "acme", "handoff_keywords", "abogado, queja")
    cap = recado("tenants", "settings", "set", "acme", "llm_monthly_usd_cap", "12.50")

    assert window.exit_code == 0, window.output
    assert window.output.strip() == "acme: quiet_window_seconds = 5"
    assert keywords.output.strip() == 'acme: handoff_keywords = ["abogado", "queja"]'
    assert cap.exit_code == 0
    assert stored(db, "acme", "settings") == {
        "read_receipts": True,
        "quiet_window_seconds": 5,
        "handoff_keywords": ["abogado", "queja"],
        "llm_monthly_usd_cap": 12.5,
    }
    assert stored(db, "beta", "settings") == {}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("quiet_window_seconds", "-2", "quiet_window_seconds must be 0 to 600 seconds"),
        ("low_confidence_threshold", "1.5", "between 0 and 1"),
        ("llm_monthly_token_cap", "0", "must be above 0"),
        ("handoff_message", "Hola {cliente}", "only the {name} placeholder"),
        ("quiet", "2", "unknown setting 'quiet'"),
    ],
)
def test_settings_set_refuses_bad_values_and_saves_nothing(db, tenant, key, value, message) -> None:
    result = recado("tenants", "settings", "set", "acme", key, value)

    assert result.exit_code == 1
    assert message in result.output
    assert stored(db, "acme", "settings") == {}


def test_settings_show_marks_defaults_and_unset_restores_them(db, tenant) -> None:
    recado("tenants", "settings", "set", "acme", "low_confidence_threshold", "0.7")

    before = recado("tenants", "settings", "show", "acme")
    unset = recado("tenants", "settings", "unset", "acme", "low_confidence_threshold")
    twice = recado("tenants", "settings", "unset", "acme", "low_confidence_threshold")
    unknown = recado("tenants", "settings", "unset", "acme", "quiet")
    after = recado("tenants", "settings", "show", "acme")

    assert before.exit_code == 0
    rows = {line.split()[0]: line.split()[1:] for line in before.output.splitlines()[1:]}
    assert rows["low_confidence_threshold"] == ["tenant", "0.7"]
    assert rows["quiet_window_seconds"] == ["default", "2"]
    assert rows["llm_monthly_token_cap"] == ["default", "no", "cap"]
    assert unset.output.strip() == "acme: low_confidence_threshold unset"
    assert twice.output.strip() == "acme: low_confidence_threshold was not set"
    assert unknown.exit_code == 1
    assert "unknown setting 'quiet'" in unknown.output
    assert stored(db, "acme", "settings") == {}
    assert "low_confidence_threshold  default  0.5" in after.output


def test_a_stored_key_outside_the_known_settings_can_be_unset(db, tenant) -> None:
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (Jsonb({"old_flag": 1, "read_receipts": True}), tenant.id),
    )

    shown = recado("tenants", "settings", "show", "acme")
    removed = recado("tenants", "settings", "unset", "acme", "old_flag")

    assert "old_flag" in shown.output
    assert removed.exit_code == 0
    assert stored(db, "acme", "settings") == {"read_receipts": True}


def test_settings_show_names_a_stored_value_the_steps_would_refuse(db, tenant) -> None:
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (Jsonb({"llm_monthly_token_cap": 0}), tenant.id),
    )

    shown = recado("tenants", "settings", "show", "acme")

    assert shown.exit_code == 0
    assert "invalid: llm_monthly_token_cap must be above 0" in shown.stderr
