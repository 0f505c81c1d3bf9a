"""The local backend: an index folder of immutable generations (DESIGN.md §4), the embedded default.

The modules: `reader` (`LocalBackend`, one generation), `writer` (`LocalWriter`, the next one),
`generations` (the folder: pointer, lock, manifests), `docstore`, `vectors`, `filled` (vectors that
fill in after a words-first write), `backup`.
"""

from .reader import LocalBackend, check_files, local_config
from .writer import LocalWriter

__all__ = ["LocalBackend", "LocalWriter", "check_files", "local_config"]
