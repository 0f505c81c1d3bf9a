"""`hsearch`: a thin click layer — parse, call the API, format. Results on stdout, the rest on stderr.

One module per command group; importing them registers their commands on `cli`."""

from . import auth, caching, evaluating, indexing, searching, serving, watching  # noqa: F401 - they register the commands
from .common import ProgressBars, cli, printable

__all__ = ["ProgressBars", "cli", "printable"]
