"""Markdown (title from the front matter or the first `# ` heading; YAML front matter as metadata) and
HTML (visible text, <title>, <meta name=… content=…> as metadata)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from ..schema import Document
from .base import FileInfo, LoadContext, SkipFile, flat_metadata, warn_dropped
from .text import decoded

__all__ = ["html_to_text", "load_html", "load_markdown", "split_front_matter"]

_FRONT_MATTER_MAX = 64 * 1024  # characters of YAML read at most


def load_markdown(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    """A Markdown file: one document. Its text is what follows the front matter, if any; its title is
    the front matter's `title`, else the first `# ` heading."""
    text, encoding = decoded(data, file)
    fields, body = split_front_matter(text, file)
    title = fields.pop("title", None)
    if not isinstance(title, str) or not title.strip():
        title = _first_heading(body)
    if not body.strip():
        raise SkipFile("no text after the front matter")
    return [file.document(body, title=title.strip(), encoding=encoding, metadata=fields)]


def split_front_matter(text: str, file: FileInfo) -> tuple[dict[str, Any], str]:
    """(fields, rest) of a Markdown text that opens with a `---` YAML block closed by `---` or `...`;
    ({}, text) when it has none. Malformed YAML is a warning, and the block is then left as text."""
    if not text.startswith("---\n"):
        return {}, text
    position = 4
    while True:  # find the closing line
        newline = text.find("\n", position)
        line_end = len(text) if newline == -1 else newline
        if text[position:line_end].rstrip() in ("---", "..."):
            break
        if newline == -1 or newline > _FRONT_MATTER_MAX:
            return {}, text
        position = newline + 1
    import yaml

    try:
        loaded = yaml.safe_load(text[4:position])
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        file.warn(f"{file.path}: front matter is not valid YAML ({reason}); read as text")
        return {}, text
    if loaded is not None and not isinstance(loaded, dict):
        file.warn(f"{file.path}: front matter is not a mapping of fields; read as text")
        return {}, text
    fields, dropped = flat_metadata(loaded or {})
    warn_dropped(file.warn, f"{file.path}: front matter", dropped)
    return fields, text[line_end + 1 :]


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def load_html(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    """An HTML page: one document of its visible text, with <title> and <meta> fields."""
    text, encoding = decoded(data, file)
    try:
        title, body, meta = html_to_text(text)
    except (AssertionError, ValueError) as error:  # what html.parser raises on some malformed markup
        raise SkipFile(f"malformed HTML ({error or type(error).__name__})") from None
    if not body.strip():
        raise SkipFile("no text")
    return [file.document(body, title=title, encoding=encoding, metadata=meta)]


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer", "h1", "h2",
         "h3", "h4", "h5", "h6", "blockquote", "pre", "dd", "dt", "hr", "main", "nav"}
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.meta: dict[str, list[str]] = {}
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            named = dict(attrs)
            name, content = named.get("name") or named.get("property"), named.get("content")
            if name and content and content.strip():
                self.meta.setdefault(name.strip().lower(), []).append(" ".join(content.split()))
        elif tag in self._SKIP:
            self._skip_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str, dict[str, Any]]:
    """(title, visible text, meta fields) of an HTML page: scripts and styles dropped, blocks on their
    own lines; a <meta> name given more than once holds a list."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = "\n".join(line for line in lines if line)
    meta = {name: values[0] if len(values) == 1 else values for name, values in parser.meta.items()}
    return " ".join("".join(parser.title_parts).split()), text, meta
