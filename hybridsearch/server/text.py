"""Text on the wire, HTTP and MCP alike: a lone surrogate (what a JSON escape such as `"\\udc80"`
makes, and no encoding can carry) becomes U+FFFD, so whatever the server reads can be echoed."""

from __future__ import annotations

import re

__all__ = ["encodable"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD (a pair read from JSON is one character already)."""
    return _SURROGATE.sub("\ufffd", text)
