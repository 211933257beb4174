"""Importing any module of the packages has no side effects: no connection opened, no setting
read from the environment, no Sentry or broker started. Entry points (`webapp.wsgi`,
`webapp.asgi`, the `__main__` modules) are where a process reads its settings and bootstraps;
they are left out."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "db", "actors", "webapp", "ops")
ENTRY_POINTS = ("webapp.wsgi", "webapp.asgi")

# Runs in a fresh interpreter: watches the environment, Sentry and brokers, imports every module.
_PROBE = textwrap.dedent(
    """
    import importlib, json, os, pkgutil, sys

    import dramatiq
    import dramatiq.broker
    import sentry_sdk

    watched = set(json.loads(sys.argv[1]))
    ours = tuple(json.loads(sys.argv[4]))
    reads = set()
    environ_type = type(os.environ)
    original_getitem = environ_type.__getitem__

    def getitem(self, key):
        # Who asked: the first caller outside the standard mapping machinery. A library that
        # copies the whole environment (subprocess-style) reads no setting of ours.
        frame = sys._getframe(1)
        while frame.f_code.co_filename.endswith(("os.py", "os>", "_collections_abc.py", "abc>")):
            frame = frame.f_back
        if key in watched and frame.f_code.co_filename.startswith(ours):
            reads.add(f"{key} in {frame.f_code.co_filename}")
        return original_getitem(self, key)

    environ_type.__getitem__ = getitem
    brokers = []
    original_init = dramatiq.Broker.__init__

    def init(self, *args, **kwargs):
        brokers.append(type(self).__name__)
        original_init(self, *args, **kwargs)

    dramatiq.Broker.__init__ = init

    modules = []
    for package in json.loads(sys.argv[2]):
        root = importlib.import_module(package)
        modules.append(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            name = info.name
            if name.endswith(".__main__") or name in json.loads(sys.argv[3]):
                continue
            importlib.import_module(name)
            modules.append(name)
    print(json.dumps({
        "modules": modules,
        "env_reads": sorted(reads),
        "sentry": sentry_sdk.get_client().is_active(),
        "global_broker": dramatiq.broker.global_broker is not None,
        "brokers": brokers,
    }))
    """
)


def test_importing_the_packages_connects_to_nothing_and_reads_no_settings() -> None:
    with socket.socket() as trap:
        # Every setting that names a server points here: any connection attempt is seen.
        trap.bind(("127.0.0.1", 0))
        trap.listen(16)
        trap.settimeout(0.5)
        address = f"127.0.0.1:{trap.getsockname()[1]}"
        settings = {
            "DATABASE_URL": f"postgresql://nobody@{address}/nowhere",
            "REDIS_URL": f"redis://{address}/0",
            "SENTRY_DSN": f"http://key@{address}/1",
            "OPENAI_API_KEY": "unused",
            "OPENAI_BASE_URL": f"http://{address}/v1",
            "WHATSAPP_API_BASE_URL": f"http://{address}/v24.0",
            "RECADO_SECRET_KEY": "unused",
        }
        env = {
            **{k: v for k, v in os.environ.items() if k not in settings},
            **settings,
            "PYTHONPATH": str(ROOT),
        }
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _PROBE,
                json.dumps(sorted(settings)),
                json.dumps(PACKAGES),
                json.dumps(ENTRY_POINTS),
                json.dumps([f"{ROOT / package}{os.sep}" for package in PACKAGES]),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        try:
            trap.accept()[0].close()
            connected = True
        except TimeoutError:
            connected = False
    found = json.loads(result.stdout.splitlines()[-1])
    assert {"actors.send", "actors.plan", "webapp.webhooks", "ops.cli"} <= set(found["modules"])
    assert found["env_reads"] == []
    assert not found["sentry"]
    # The only broker is the placeholder steps are declared on (actors/steps.py).
    assert not found["global_broker"] and found["brokers"] == ["StubBroker"]
    assert not connected
