"""`recado chaos`: the chaos run (bench/chaos.py) from the CLI; its options are the run's own."""

import sys
from pathlib import Path

import click

# The run ships with the source checkout (bench/ beside ops/), not with the installed package.
CHECKOUT = Path(__file__).resolve().parent.parent


@click.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def chaos(ctx: click.Context, options: tuple[str, ...]) -> None:
    """Prove no message is lost or answered twice under faults (--help: the run's options)."""
    if not (CHECKOUT / "bench" / "chaos.py").exists():
        raise click.ClickException("the chaos run needs the source checkout (bench/chaos.py)")
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    from bench.chaos import main as run_chaos

    ctx.exit(run_chaos(list(options)))
