"""`python -m downloader` runs the same app as the `adl` command."""

from .cli import main

main()
