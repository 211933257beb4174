"""One whole conversation through `recado run` as a user starts it: web server, worker processes,
the Graph API and LLM simulators, a simulated customer, and the reply delivered and read."""

import os
import signal
import subprocess
import sys
import time

import psycopg

from tests.ops.test_cli import ROOT, closed_port, recado


def test_run_answers_a_customer_from_webhook_to_read_receipt(db: psycopg.Connection) -> None:
    port = closed_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OPENAI_") and name != "WHATSAPP_API_BASE_URL"
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "ops", "run", "--port", str(port), "--threads", "2"),
            *("--simulator-port", str(closed_port()), "--llm-simulator-port", str(closed_port())),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    output: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if line.startswith("The assistant's model is the LLM simulator"):
                break
        simulated = recado(
            "simulate", "whatsapp", "--url", f"http://127.0.0.1:{port}",
            "--messages", "1", "--contacts", "1",
        )  # fmt: skip
        assert simulated.exit_code == 0, simulated.output
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status != "read":
            row = db.execute(
                "SELECT delivery_status FROM messages"
                " WHERE direction = 'out' AND details ->> 'author' = 'assistant'"
            ).fetchone()
            status = row[0] if row else None
            time.sleep(0.2)
        assert status == "read", "".join(output)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(output) + rest
    source, model, text = db.execute(
        "SELECT r.source, r.model, m.text FROM replies r JOIN messages m"
        " ON m.id = r.outbound_message_id WHERE r.outcome = 'queued'"
    ).fetchone()
    assert (source, model) == ("llm", "recado-sim")
    # The simulated model answers from the demo clinic's profile in the customer's language and
    # the profile's "usted": the first sample message asks for a slot, which a person confirms.
    assert text == (
        "Recibimos su solicitud de cita; no podemos confirmar horarios por aquí.\n"
        "Una persona de Clínica Demo Fisioterapia le responderá en breve."
    )
