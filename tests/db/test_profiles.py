"""Profiles and assistant settings on tenants, and the demo tenant's set-up by `recado run`."""

import json

import pytest

from db.profiles import profile_of, set_profile, set_setting_default
from db.tenants import tenant_by_id
from domain.profile import parse_profile
from ops.cli_run import DEMO_PROFILE, _ensure_demo_assistant


def test_profile_round_trip(db, tenant) -> None:
    profile = {"name": "Acme", "services": [{"name": "Limpieza", "price": 800}]}

    assert profile_of(db, tenant.id) is None
    set_profile(db, tenant.id, profile)

    assert profile_of(db, tenant.id) == profile
    with pytest.raises(LookupError):
        set_profile(db, tenant.id + 1000, profile)


def test_a_setting_default_never_overwrites(db, tenant) -> None:
    set_setting_default(db, tenant.id, "quiet_window_seconds", 2)
    set_setting_default(db, tenant.id, "quiet_window_seconds", 9)
    set_setting_default(db, tenant.id, "read_receipts", True)

    stored = tenant_by_id(db, tenant.id)
    assert stored is not None
    assert stored.settings == {"quiet_window_seconds": 2, "read_receipts": True}


def test_the_demo_profile_is_a_valid_clinic() -> None:
    profile = parse_profile(json.loads(DEMO_PROFILE.read_text()), default_name="Demo Clinic")

    assert (profile.language, profile.timezone) == ("es", "America/Mexico_City")
    assert len(profile.services) == 4
    assert {s.currency for s in profile.services} == {"MXN"}
    assert [s.name for s in profile.services if s.price is None] == [
        "Rehabilitación postoperatoria"
    ]
    assert len(profile.faq) == 3 and len(profile.policies) == 2
    assert profile.address and profile.hours


def test_demo_assistant_fills_only_what_is_missing(db, tenant) -> None:
    _ensure_demo_assistant(db, tenant)
    first = tenant_by_id(db, tenant.id)
    assert first is not None
    assert first.profile == json.loads(DEMO_PROFILE.read_text())
    assert first.settings["quiet_window_seconds"] == 2

    own = {"name": "Acme", "language": "en"}
    set_profile(db, tenant.id, own)
    db.execute(
        "UPDATE tenants SET settings = '{\"quiet_window_seconds\": 5}' WHERE id = %s",
        (tenant.id,),
    )
    _ensure_demo_assistant(db, tenant)

    again = tenant_by_id(db, tenant.id)
    assert again is not None
    assert again.profile == own
    assert again.settings == {"quiet_window_seconds": 5}


def test_turning_the_assistant_on_starts_at_the_next_message(db, tenant) -> None:
    from db import conversations

    contact = conversations.upsert_contact(
        db, tenant_id=tenant.id, channel="whatsapp", channel_user_id="15550001111",
        phone_e164="+15550001111", profile_name="Ana",
    )  # fmt: skip
    conversation = conversations.live_conversation(
        db, tenant_id=tenant.id, contact_id=contact, channel="whatsapp",
        inbound_at=db.execute("SELECT now()").fetchone()[0],
    )  # fmt: skip
    old = db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text)"
        " VALUES (%s, %s, 'whatsapp', 'in', 'text', 'an old question') RETURNING id",
        (tenant.id, conversation.id),
    ).fetchone()[0]
    set_profile(db, tenant.id, {"name": "Acme"})
    assert db.execute("SELECT replied_through FROM conversations").fetchone()[0] == old
    db.execute("UPDATE conversations SET replied_through = 0")
    set_profile(db, tenant.id, {"name": "Acme Clinic"})  # already on: nothing skipped
    assert db.execute("SELECT replied_through FROM conversations").fetchone()[0] == 0


def test_each_save_and_clear_is_a_version_numbered_per_tenant(db, tenant) -> None:
    from db.profiles import clear_profile, profile_versions
    from db.tenants import create_tenant

    other = create_tenant(
        db,
        slug="beta",
        name="Beta",
        wa_phone_number_id="2000",
        wa_app_secret="s",
        wa_verify_token="v",
        wa_access_token="a",
    )
    first = set_profile(db, tenant.id, {"name": "Acme"})
    second = set_profile(db, tenant.id, {"name": "Acme 2"})
    clear_profile(db, tenant.id)
    restored = set_profile(db, tenant.id, {"name": "Acme"}, restored_from=1)

    assert (first, second, restored) == (1, 2, 4)
    assert set_profile(db, other.id, {"name": "Beta"}) == 1
    assert [(v.version, v.profile, v.restored_from) for v in profile_versions(db, tenant.id)] == [
        (4, {"name": "Acme"}, 1),
        (3, None, None),
        (2, {"name": "Acme 2"}, None),
        (1, {"name": "Acme"}, None),
    ]
