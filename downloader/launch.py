"""The `adl` command's entry point. `adl --version` is answered here, before the command line
is built: scripts ask for it to check an install, and typer alone costs more than the 0.1 s
it should take. Everything else goes to cli.main (typer)."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from ._version import __version__

        print(f"adl {__version__}")
        return
    from .cli import main as run_cli

    run_cli()
