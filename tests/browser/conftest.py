"""A real stack for the browser tests: hypercorn serving the app, Chromium driven by Playwright.

One web server per session: the app as `recado serve` runs it (ops/processes.py web_server_argv,
hypercorn with webapp/serving.py) in a subprocess on a free port, against the suite's database
(DATABASE_URL and the other settings come from tests/conftest.py through the environment). The
`db` fixture empties that database before each test; the server takes a pooled connection per
request, so it simply sees the new rows. Tests that deliver messages add the `worker` fixture
(tests/conftest.py: a real Dramatiq worker) and `graph_api` (the Graph API simulator, which posts
its delivery statuses to this server's webhook).

One Chromium per session (Debian's, /usr/bin/chromium: `make browser` installs it); every page a
test opens (`page`, `phone`, `new_page()`) has a browser context of its own, closed after the test.
A missing Chromium fails the tests: it is never a reason to skip them.
"""

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from db.tenants import Tenant
from db.users import User, create_session, create_user, set_password_hash
from ops.processes import wait_for_port, web_server_argv
from ops.simulators.graph_api import GraphApiSimulator, SimulatorConfig, TenantRoute
from tests.browser.helpers import DESKTOP, PHONE
from tests.conftest import GRAPH_API_PORT, ROOT, SETTINGS, _free_port

# The admin pages' users and tenants, shared with the route tests (`make_user` is redefined below).
from tests.webapp.admin.conftest import PASSWORD, agent, other_tenant, owner  # noqa: F401
from webapp.admin.access import SESSION_LIFETIME
from webapp.admin.passwords import hash_password

CHROMIUM = Path("/usr/bin/chromium")
# Headless without what a test machine has no use for: sandbox (root in CI), GPU, QUIC, the
# browser's own updates, sync and background requests.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# webapp/admin/__init__.py names the session cookie so.
SESSION_COOKIE = "recado_session"
# A broken page fails in seconds, not after Playwright's default 30 s.
TIMEOUT_MS = 10_000
LOCALE = "es-ES"
# The business numbers of the `tenant` and `other_tenant` fixtures, and their webhook secrets.
TENANT_ROUTES = {
    "106540352242922": ("acme", "acme-app-secret", "acme-access-token"),
    "106540352242999": ("globex", "globex-app-secret", "globex-access-token"),
}


@cache
def _password_hash() -> str:
    # Argon2 takes a good part of a second on purpose: once per session is enough here.
    return hash_password(PASSWORD)


@pytest.fixture
def make_user(db: psycopg.Connection) -> Callable[..., User]:
    """make_user(tenant, role="agent", email=None, display_name=None): a user (db/users.py)
    whose password is PASSWORD, as tests/webapp/admin/conftest.py's but hashed once a session."""
    made = 0

    def make(
        tenant: Tenant | None,
        role: str = "agent",
        email: str | None = None,
        display_name: str | None = None,
    ) -> User:
        nonlocal made
        made += 1
        address = email or f"{role}{made}@{tenant.slug if tenant else 'ops'}.example"
        tenant_id = tenant.id if tenant else None
        user = create_user(
            db, email=address, role=role, tenant_id=tenant_id, display_name=display_name
        )
        set_password_hash(db, user.id, _password_hash())
        return user

    return make


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the app served by hypercorn (one process) on 127.0.0.1."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "web.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            web_server_argv(host="127.0.0.1", port=port, workers=1),
            cwd=ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            if not wait_for_port("127.0.0.1", port, timeout=30):
                pytest.fail(f"the web server did not listen:\n{log_path.read_text()}")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert proc.returncode == 0, log_path.read_text()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium; Playwright gives it a fresh temporary profile, and its home is a
    temporary directory too, so nothing of this machine's user leaks in or is left behind."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make browser` (Debian's chromium)"
    with tempfile.TemporaryDirectory(prefix="recado-chromium-") as home:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
                 "XDG_CONFIG_HOME": home, "XDG_CACHE_HOME": home},
        )  # fmt: skip
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(
    browser: Browser, server: str, db: psycopg.Connection
) -> Iterator[Callable[..., Page]]:
    """new_page(**options): a tab in a browser context of its own (own cookies: another person),
    `options` as Browser.new_context's over the defaults (es-ES, 1280x800). Relative URLs go to
    the server: page.goto("/login"). All closed after the test; a script error on any of the
    pages fails it, even when its assertions passed."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def open_page(**options: Any) -> Page:
        options.setdefault("locale", LOCALE)
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=server, **options)
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()
    assert errors == [], f"script errors on the pages: {errors}"


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A desktop tab, Spanish (es-ES), no cookies."""
    return new_page()


@pytest.fixture
def phone(new_page: Callable[..., Page]) -> Page:
    """A tab emulating a phone: 390x844, touch, the page's viewport meta honoured."""
    return new_page(viewport=PHONE, is_mobile=True, has_touch=True)


@pytest.fixture
def graph_api(server: str, tenant: Tenant) -> Iterator[GraphApiSimulator]:
    """The Graph API simulator where the app sends (WHATSAPP_API_BASE_URL), posting delivery
    statuses to the server's webhook for the `tenant` (and `other_tenant`) fixtures' numbers.
    Add the `worker` fixture for the sends to happen."""
    routes = {
        number: TenantRoute(
            webhook_url=f"{server}/webhooks/whatsapp/{slug}",
            app_secret=secret,
            access_token=token,
        )
        for number, (slug, secret, token) in TENANT_ROUTES.items()
    }
    config = SimulatorConfig(
        routes=routes, port=GRAPH_API_PORT, seed=7, status_delays_ms=(20, 40, 60)
    )
    simulator = GraphApiSimulator(config).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def open_session(server: str, db: psycopg.Connection) -> Callable[[Page, User], None]:
    """open_session(page, user): `page`'s context signed in as `user` without the form: a session
    row (db/users.py) and the cookie the app would have set. For scenarios about other pages; the
    form has its own tests (test_sign_in.py). Then page.goto() the page under test."""
    signer = Flask(__name__)
    signer.secret_key = SETTINGS.secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    assert serializer is not None

    def open_for(page: Page, user: User) -> None:
        token = create_session(db, user.id, SESSION_LIFETIME)
        value = serializer.dumps({"sid": token, "_permanent": True})
        page.context.add_cookies([{"name": SESSION_COOKIE, "value": value, "url": server}])

    return open_for
