"""Child processes of `recado run`/`serve` and the benchmark: start, watch, stop without orphans."""

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# Long enough for workers to finish in-flight steps (actor time limits) and web requests.
STOP_GRACE_SECONDS = 45.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Child:
    name: str
    argv: Sequence[str]


def web_server_argv(*, host: str, port: int, workers: int) -> list[str]:
    """Hypercorn serving webapp.asgi:app (bodies read whole first) with webapp/serving.py."""
    return [
        sys.executable, "-m", "hypercorn", "webapp.asgi:app",
        "--config", "python:webapp.serving",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
    ]  # fmt: skip


def worker_argv(*, processes: int, threads: int) -> list[str]:
    return [
        sys.executable, "-m", "ops", "worker",
        "--processes", str(processes), "--threads", str(threads),
    ]  # fmt: skip


def _die_with_parent() -> None:
    # Runs in the child before exec: if we are SIGKILLed, the kernel sends it SIGTERM.
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(child: Child, env: Mapping[str, str]) -> subprocess.Popen:
    # A session of its own: the terminal's Ctrl-C reaches only us, and we stop children in order.
    return subprocess.Popen(
        list(child.argv),
        env=dict(env),
        start_new_session=True,
        # Not thread-safe in general; the CLI has no other threads when it spawns.
        preexec_fn=_die_with_parent,
    )


def stop(procs: Mapping[str, subprocess.Popen], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every child, wait up to `grace`, then SIGKILL whatever is left of their groups."""
    # Only the child itself: the web server's parent and the worker supervisor stop their own
    # processes in order; signalling those too would cut their drain short.
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    # Grandchildren (web server and step worker processes) share the child's process group.
    for proc in procs.values():
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def supervise_children(
    children: Sequence[Child],
    env: Mapping[str, str],
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Run children until one exits or we get SIGINT/SIGTERM; then stop them all.

    Returns 0 after a requested stop, else the exit code of the child that ended first
    (1 if it ended with 0 or by a signal: a server that stops on its own is still a failure).
    """
    procs: dict[str, subprocess.Popen] = {}
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            procs[child.name] = spawn(child, env)
        if on_ready is not None:
            on_ready()
        while True:
            for name, proc in procs.items():
                code = proc.poll()
                if code is not None:
                    print(f"recado: {name} exited with code {code}; stopping", file=sys.stderr)
                    return code if code > 0 else 1
            time.sleep(0.2)
    except _Stop:
        print("recado: stopping...", file=sys.stderr)
        return 0
    finally:
        # A second Ctrl-C while stopping must not leave children behind.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        stop(procs)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False
