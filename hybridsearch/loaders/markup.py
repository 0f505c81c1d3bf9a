"""Markdown (title from the front matter or the first `# ` heading; YAML front matter as metadata) and
HTML (visible text, <title>, <meta name=… content=…> as metadata)."""

from __future__ import annotations

import re
from html import unescape
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
    title, body, meta = html_to_text(text)
    if not body.strip():
        raise SkipFile("no text")
    return [file.document(body, title=title, encoding=encoding, metadata=meta)]


_BLOCK = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer", "h1", "h2",
     "h3", "h4", "h5", "h6", "blockquote", "pre", "dd", "dt", "hr", "main", "nav", "td", "th"}
)  # fmt: skip
_RAW = frozenset({"script", "style", "title"})  # content up to the closing tag is not markup
_HIDDEN = frozenset({"noscript", "template", "head"})  # content not shown
_TAG = re.compile(r"\s*(/?)\s*([A-Za-z][A-Za-z0-9:_-]*)(.*)", re.S)
_ATTRIBUTE = re.compile(r"""([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")


def html_to_text(html: str) -> tuple[str, str, dict[str, Any]]:
    """(title, visible text, meta fields) of an HTML page: scripts, styles and comments dropped, blocks
    on their own lines, entities decoded; a <meta> name given more than once holds a list.

    One pass, each character looked at a bounded number of times, whatever the markup (a '<' that
    opens no tag is text; an unclosed comment or tag ends the page), so malformed pages cost what
    well-formed ones do."""
    lower = html.lower()
    parts: list[str] = []
    title: list[str] = []
    meta: dict[str, list[str]] = {}
    hidden = 0
    position, next_close = 0, -1
    length = len(html)
    while position < length:
        opening = html.find("<", position)
        if opening == -1:
            opening = length
        if opening > position and not hidden:
            parts.append(html[position:opening])
        if opening == length:
            break
        if html.startswith("<!--", opening):
            end = html.find("-->", opening + 4)
            position = length if end == -1 else end + 3
            continue
        if next_close <= opening:
            next_close = html.find(">", opening + 1)
            if next_close == -1:
                next_close = length
        if html.startswith(("<!", "<?"), opening):  # doctype, CDATA, processing instruction
            position = next_close + 1
            continue
        tag = _TAG.match(html, opening + 1, next_close) if next_close < length else None
        if tag is None:  # "a < b", or a '<' whose tag never closes: text
            if not hidden:
                parts.append("<")
            position = opening + 1
            continue
        closing, name, rest = tag.group(1), tag.group(2).lower(), tag.group(3)
        position = next_close + 1
        if closing:
            if name in _HIDDEN and hidden:
                hidden -= 1
        elif name in _RAW:
            end = lower.find(f"</{name}", position)
            end = length if end == -1 else end
            if name == "title":
                title.append(html[position:end])
            position = end
            continue
        elif name in _HIDDEN:
            hidden += 1
        elif name == "body":  # an unclosed <head> ends here
            hidden = 0
        elif name == "meta":
            _meta(rest, meta)
        if name in _BLOCK and not hidden:
            parts.append("\n")
    lines = (" ".join(line.split()) for line in unescape("".join(parts)).splitlines())
    text = "\n".join(line for line in lines if line)
    fields = {name: values[0] if len(values) == 1 else values for name, values in meta.items()}
    return " ".join(unescape("".join(title)).split()), text, fields


def _meta(attributes: str, meta: dict[str, list[str]]) -> None:
    """Record a <meta name=… content=…> (or property=…) tag's field."""
    named = {}
    for match in _ATTRIBUTE.finditer(attributes):
        value = match.group(2) if match.group(2) is not None else match.group(3) or match.group(4) or ""
        named[match.group(1).lower()] = unescape(value)
    name, content = named.get("name") or named.get("property"), named.get("content")
    if name and content and content.strip():
        meta.setdefault(name.strip().lower(), []).append(" ".join(content.split()))
