"""What browser scenarios do again and again: sign in, check the layout, take screenshots."""

from pathlib import Path

from playwright.sync_api import Page, ViewportSize, expect

from db.users import User
from tests.conftest import ROOT
from tests.webapp.admin.conftest import PASSWORD

SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
SIZES = {"desktop": DESKTOP, "phone": PHONE}


def sign_in(page: Page, user: User, password: str = PASSWORD) -> None:
    """Through the sign-in form, in Spanish (the contexts' default language)."""
    page.goto("/login")
    page.get_by_label("Correo electrónico").fill(user.email)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_load_state()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Cerrar sesión").click()
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()


def scrolls_sideways(page: Page) -> bool:
    """Whether the page is wider than the window (a phone would scroll it horizontally)."""
    return bool(page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth"))


def screenshot(page: Page, name: str, sizes: tuple[str, ...] = ("desktop", "phone")) -> None:
    """docs/screenshots/<name>-<size>.png of the page at each of `sizes` (SIZES), for the README;
    the page gets its own viewport back afterwards."""
    own = page.viewport_size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for size in sizes:
            page.set_viewport_size(SIZES[size])
            page.screenshot(path=Path(SCREENSHOTS, f"{name}-{size}.png"), animations="disabled")
    finally:
        if own is not None:
            page.set_viewport_size(own)
