from ops.cli import main

# `python -m ops` is `recado` under another name; say so in usage and errors.
main(prog_name="recado")
