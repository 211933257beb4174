"""Signing in and out, the page language, escaping and tenant isolation, in a real browser."""

import re

from playwright.sync_api import Page, expect

from db.tenants import create_tenant
from db.users import User
from tests.browser.helpers import screenshot, scrolls_sideways, sign_in, sign_out


def test_sign_in_lands_on_the_inbox(page: Page, tenant, make_user) -> None:
    agent = make_user(tenant, display_name="Lucía Pérez")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    screenshot(page, "sign-in")
    sign_in(page, agent)
    expect(page).to_have_url(re.compile(r"/t/acme/inbox$"))
    expect(page.get_by_role("heading", name="Bandeja de entrada")).to_be_visible()
    expect(page.locator(".tenant-name")).to_have_text("Acme Clinic")
    screenshot(page, "inbox")


def test_a_wrong_password_shows_the_error_and_no_inbox(page: Page, agent: User) -> None:
    sign_in(page, agent, password="not the password")
    expect(page.get_by_role("alert")).to_have_text("Correo o contraseña incorrectos.")
    expect(page).to_have_url(re.compile(r"/login$"))
    # The address typed stays; the password does not.
    expect(page.get_by_label("Correo electrónico")).to_have_value(agent.email)
    expect(page.get_by_label("Contraseña")).to_have_value("")
    page.goto("/t/acme/inbox")
    expect(page).to_have_url(re.compile(r"/login\?next=/t/acme/inbox$"))


def test_signing_out_ends_the_session_even_for_the_back_button(page: Page, agent: User) -> None:
    sign_in(page, agent)
    expect(page.get_by_role("heading", name="Bandeja de entrada")).to_be_visible()
    sign_out(page)
    expect(page).to_have_url(re.compile(r"/login$"))
    page.go_back()
    page.reload()
    expect(page).to_have_url(re.compile(r"/login\?next=/t/acme/inbox$"))
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
    expect(page.get_by_role("heading", name="Bandeja de entrada")).to_have_count(0)


def test_the_language_switch_changes_the_page_text(page: Page, agent: User, open_session) -> None:
    open_session(page, agent)
    page.goto("/t/acme/inbox")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.get_by_role("button", name="EN").click()
    expect(page).to_have_url(re.compile(r"/t/acme/inbox$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # The choice is the user's: it stays on the next page load.
    page.reload()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    page.get_by_role("button", name="ES").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name="Bandeja de entrada")).to_be_visible()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()


SCRIPT = "<script>window.__xss=1</script>"


def test_markup_in_names_shows_as_text_and_never_runs(
    page: Page, db, make_user, open_session
) -> None:
    tenant = create_tenant(
        db,
        slug="tricky",
        name=SCRIPT,
        wa_phone_number_id="106540352242777",
        wa_app_secret="tricky-app-secret",
        wa_verify_token="tricky-verify-token",
        wa_access_token="tricky-access-token",
    )
    user = make_user(tenant, display_name=SCRIPT)
    open_session(page, user)
    page.goto("/")
    expect(page.get_by_role("heading", name="Bandeja de entrada")).to_be_visible()
    expect(page.locator(".tenant-name")).to_have_text(SCRIPT)
    expect(page.locator(".who")).to_have_text(SCRIPT)
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_another_tenants_inbox_is_not_found(
    page: Page, tenant, other_tenant, make_user, open_session
) -> None:
    open_session(page, make_user(other_tenant))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/t/globex/inbox$"))
    response = page.goto("/t/acme/inbox")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="No encontrado")).to_be_visible()
    expect(page.get_by_text("Acme Clinic")).to_have_count(0)


def test_a_phone_shows_sign_in_and_inbox_without_sideways_scrolling(
    phone: Page, agent: User
) -> None:
    phone.goto("/login")
    # The page's viewport meta is honoured: the layout is the phone's width, not a desktop's.
    assert phone.evaluate("window.innerWidth") == 390
    assert not scrolls_sideways(phone)
    sign_in(phone, agent)
    expect(phone.get_by_role("heading", name="Bandeja de entrada")).to_be_visible()
    assert not scrolls_sideways(phone)
