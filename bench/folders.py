"""A BEIR corpus as the folder of Markdown files a user would index (for the scripts beside this one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_markdown_folder(records: list[dict[str, Any]], docs: Path, per_folder: int) -> None:
    """Each record as `docs/NN/docNNNN.md` (`# title`, then its text), `per_folder` files a folder."""
    for i, record in enumerate(records):
        path = docs / f"{i // per_folder:02d}" / f"doc{i:04d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {record['title']}\n\n{record['text']}\n", encoding="utf-8")
