"""Runs N worker processes, restarts any that dies, and drains them all on SIGTERM/SIGINT."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from actors.worker import DRAIN_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

# Past the workers' own drain timeout, stragglers get SIGKILL.
STOP_MARGIN_SECONDS = 10.0
# A child dying again soon after start waits longer before the next restart, up to the cap.
RESTART_BACKOFF_SECONDS = 1.0
RESTART_BACKOFF_MAX_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0
POLL_SECONDS = 0.2
# The directory holding the `actors` package, so children import the same code.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class _Slot:
    """One child position: its process, when it started and when it may start again."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restart_at = 0.0
        self.backoff = RESTART_BACKOFF_SECONDS


def supervise(
    *,
    processes: int,
    threads: int,
    extra_imports: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> int:
    """Run until SIGTERM or SIGINT; returns 0 once every child has exited. Main thread only."""
    command = [sys.executable, "-m", "actors.worker", "--threads", str(threads)]
    for module in extra_imports:
        command += ["--import", module]
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), child_env.get("PYTHONPATH", "")) if p
    )

    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("Received %s: stopping workers.", signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    slots = [_Slot(i) for i in range(processes)]
    try:
        while not stopping.is_set():
            for slot in slots:
                _tend(slot, command, child_env)
            stopping.wait(POLL_SECONDS)
    finally:
        _stop_all(slots)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _tend(slot: _Slot, command: list[str], env: dict[str, str]) -> None:
    now = time.monotonic()
    if slot.process is not None:
        code = slot.process.poll()
        if code is None:
            return
        lived = now - slot.started_at
        if lived >= HEALTHY_AFTER_SECONDS:
            slot.backoff = RESTART_BACKOFF_SECONDS
        delay = slot.backoff
        slot.backoff = min(delay * 2, RESTART_BACKOFF_MAX_SECONDS)
        slot.restart_at = now + delay
        logger.warning(
            "Worker %d (pid %d) exited with %s after %.1f s; restarting in %.1f s.",
            slot.index,
            slot.process.pid,
            code,
            lived,
            delay,
        )
        slot.process = None
    if now >= slot.restart_at:
        slot.process = subprocess.Popen(command, env=env)
        slot.started_at = now
        logger.info("Worker %d started (pid %d).", slot.index, slot.process.pid)


def _stop_all(slots: list[_Slot]) -> None:
    running = [s.process for s in slots if s.process is not None and s.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS + STOP_MARGIN_SECONDS
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.error("Worker pid %d did not drain in time: killing it.", process.pid)
            process.kill()
            process.wait()
    logger.info("All workers stopped.")
