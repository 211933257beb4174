"""`recado chaos`: the chaos run (bench/chaos.py) from the CLI; its options are the run's own."""

import click


@click.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def chaos(ctx: click.Context, options: tuple[str, ...]) -> None:
    """Prove no message is lost or answered twice under faults (--help: the run's options)."""
    # Imported on use: the harness pulls in the simulators and the process tools.
    from bench.chaos import main as run_chaos

    ctx.exit(run_chaos(list(options)))
