"""The `adl` command's exit codes, and how a usage error ends it."""

from __future__ import annotations

import sys
from typing import NoReturn

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def usage_error(message: str) -> NoReturn:
    import typer  # the command line's own exit; loaded already wherever this is called

    print(f"adl: {message}", file=sys.stderr)
    raise typer.Exit(EXIT_USAGE)
