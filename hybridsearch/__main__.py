"""`python -m hybridsearch` runs the `hsearch` command line."""

from .cli import cli

cli()
