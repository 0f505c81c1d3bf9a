"""Markdown (title from the front matter or the first `# ` heading; YAML front matter as metadata) and
HTML (visible text, <title>, <meta name=… content=…> as metadata)."""

from __future__ import annotations

import bisect
import re
from html import unescape
from typing import Any

from ..locations import article_headings, heading_regions
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
    headings = _headings(body)
    if not isinstance(title, str) or not title.strip():
        title = next((text for _, level, text in headings if level == 1), "")
    if not body.strip():
        raise SkipFile("no text after the front matter")
    title = title.strip()
    marked = {offset for offset, _, _ in headings}  # 第N条 lines that are no Markdown heading count too
    articles = [heading for heading in article_headings(body) if heading[0] not in marked]
    regions = heading_regions(sorted(headings + articles), title)
    return [file.document(body, title=title, encoding=encoding, metadata=fields, regions=regions)]


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


_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.M)
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.M)


def _headings(text: str) -> list[tuple[int, int, str]]:
    """The ATX headings (`## 3.2 申請手続き`) of a Markdown text as (offset, level, text), leaving out
    lines inside fenced code blocks."""
    fences = [match.start() for match in _FENCE.finditer(text)]
    found = []
    for match in _HEADING.finditer(text):
        if bisect.bisect_left(fences, match.start()) % 2 == 0:  # an even number of fences before it
            found.append((match.start(), len(match.group(1)), match.group(2).strip()))
    return found


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
_HIDDEN = frozenset({"noscript", "template", "head"})  # content not shown
_RAW_END = {
    name: re.compile(rf"</{name}(?=[\s/>])", re.I) for name in ("script", "style", "title")
}  # not markup inside
_TAG = re.compile(r"(/?)([A-Za-z][A-Za-z0-9:_-]*)")  # right after "<": HTML allows no space there
#: The rest of a tag up to its '>' ('>' inside quoted attribute values does not end it). The classes
#: are disjoint, so a match or a failure costs one pass over what it reads.
_TAG_REST = re.compile(r"""[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>""")
_ATTRIBUTE = re.compile(r"""([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")


def html_to_text(html: str) -> tuple[str, str, dict[str, Any]]:
    """(title, visible text, meta fields) of an HTML page: scripts, styles and comments dropped, blocks
    on their own lines, entities decoded; a <meta> name given more than once holds a list.

    One pass, each character looked at a bounded number of times, whatever the markup (a '<' that
    opens no tag is text; an unclosed comment or tag ends the page), so malformed pages cost what
    well-formed ones do."""
    parts: list[str] = []
    title: list[str] = []
    meta: dict[str, list[str]] = {}
    hidden: list[str] = []  # the open elements whose content is not shown
    position, length = 0, len(html)
    while position < length:
        opening = html.find("<", position)
        if opening == -1:
            opening = length
        if opening > position and not hidden:
            parts.append(html[position:opening])
        if opening == length:
            break
        if html.startswith(("<!--", "<![CDATA["), opening):
            end = html.find("-->" if html[opening + 2] == "-" else "]]>", opening + 4)
            position = length if end == -1 else end + 3
            continue
        if html.startswith(("<!", "<?"), opening):  # a doctype or a processing instruction
            end = html.find(">", opening + 2)
            position = length if end == -1 else end + 1
            continue
        tag = _TAG.match(html, opening + 1)
        if tag is None:  # "a < b": text
            if not hidden:
                parts.append("<")
            position = opening + 1
            continue
        rest = _TAG_REST.match(html, tag.end())
        if rest is None:  # a tag that never closes: the rest of the page is not text
            break
        end = rest.end() - 1
        closing, name = tag.group(1), tag.group(2).lower()
        position = end + 1
        if closing:
            if name in hidden:
                del hidden[len(hidden) - 1 - hidden[::-1].index(name)]
        elif name in _RAW_END:
            found = _RAW_END[name].search(html, position)
            stop = length if found is None else found.start()
            if name == "title":
                title.append(html[position:stop])
            position = stop
            continue
        elif name in _HIDDEN:
            hidden.append(name)
        elif name == "body":  # an unclosed <head> ends here
            hidden = [open_name for open_name in hidden if open_name != "head"]
        elif name == "meta":
            _meta(html[tag.end() : end], meta)
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
