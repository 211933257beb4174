"""One worker process: Dramatiq's worker threads, the broker's housekeeping and metrics threads.

`python -m actors.worker --threads N [--queue Q ...] [--import MODULE ...]`
"""

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import dramatiq

from actors.bootstrap import bootstrap, serve_steps
from actors.broker import Housekeeping
from actors.metrics import MetricsSnapshotter
from domain.settings import Settings

logger = logging.getLogger(__name__)

# In-flight messages get this long to finish after SIGTERM; the supervisor waits a little longer.
DRAIN_TIMEOUT_SECONDS = 30.0
# How often each consumer looks at its delayed messages (retry backoffs, paced sends) when idle.
WORKER_TIMEOUT_MS = 100
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def run_worker(
    broker: dramatiq.Broker,
    settings: Settings,
    *,
    threads: int,
    queues: Sequence[str] | None = None,
) -> int:
    """Consume until SIGTERM or SIGINT, then drain in-flight messages and return 0.

    Must run on the main thread (it installs signal handlers).
    """
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("Received %s: draining.", signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    # What dramatiq's own CLI emits once per process: TimeLimit starts its watchdog here.
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(
        broker,
        queues=set(queues) if queues else None,
        worker_threads=threads,
        worker_timeout=WORKER_TIMEOUT_MS,
    )
    housekeeping = Housekeeping(settings)
    snapshotter = MetricsSnapshotter(settings)
    try:
        worker.start()
        housekeeping.start()
        snapshotter.start()
        logger.info("Worker started: %d threads, queues %s.", threads, sorted(broker.queues))
        # A timed wait keeps the main thread responsive to signals.
        while not stopping.wait(1.0):
            pass
    finally:
        snapshotter.stop()
        housekeeping.stop()
        worker.stop(timeout=int(DRAIN_TIMEOUT_SECONDS * 1000))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actors.worker")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--queue", action="append", dest="queues", metavar="QUEUE")
    parser.add_argument("--import", action="append", dest="imports", default=[], metavar="MODULE")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
    settings = Settings.from_env(os.environ)
    # Extra modules declare more steps (actors.steps.step): they join the app's at bind time.
    for module in args.imports:
        importlib.import_module(module)
    # Every worker thread and the journal may hold a connection at once.
    runtime = bootstrap(settings, pool_size=args.threads + 4)
    serve_steps(runtime)
    assert runtime.broker is not None
    return run_worker(runtime.broker, settings, threads=args.threads, queues=args.queues)


if __name__ == "__main__":
    sys.exit(main())
