"""`python -m downloader` runs the same app as the `adl` command."""

from .launch import main

main()
