"""Retrieval prompts of the model families whose configs do not name them (e5, ruri, Gemma, Qwen3…).

Prompts come from the user first, then the model's own `config_sentence_transformers.json`, then
`FAMILIES` for known families whose config has none, else none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FAMILIES", "Family", "DOCUMENT", "QUERY", "family_prompts", "resolve_prompt"]


@dataclass(frozen=True)
class Family:
    """Retrieval prompts of a model family, recognised by a fragment of the model's name or folder."""

    fragment: str
    query_prompt: str
    document_prompt: str


_QWEN3_QUERY = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"

#: First match wins, so more specific fragments come first. Families without prompts (BGE-M3,
#: static models) need no entry.
FAMILIES: tuple[Family, ...] = (
    Family("multilingual-e5-large-instruct", _QWEN3_QUERY + " ", ""),
    Family("multilingual-e5", "query: ", "passage: "),
    Family("ruri-v3", "検索クエリ: ", "検索文書: "),
    Family("ruri-", "クエリ: ", "文章: "),  # ruri v1 and v2
    Family("embeddinggemma", "task: search result | query: ", "title: none | text: "),
    Family("qwen3-embedding", _QWEN3_QUERY, ""),
)


def family_prompts(name: str) -> tuple[str, str]:
    """(query, document) prompts of the family `name` belongs to; empty strings when none does."""
    lowered = name.lower()
    family = next((f for f in FAMILIES if f.fragment in lowered), None)
    return (family.query_prompt, family.document_prompt) if family else ("", "")


QUERY, DOCUMENT = 0, 1
#: The names a sentence-transformers config gives each side's prompt, in order of preference.
_PROMPT_NAMES = (("query",), ("document", "passage"))


def resolve_prompt(given: str | None, model: Any, name: str, side: int) -> str:
    """The user's prompt, else the model config's (when it names any retrieval prompt), else its family's."""
    if given is not None:
        return given
    prompts = dict(getattr(model, "prompts", None) or {})  # sentence-transformers fills in "" for unset ones
    if any(prompts.get(key) for keys in _PROMPT_NAMES for key in keys):
        return next((prompts[key] for key in _PROMPT_NAMES[side] if prompts.get(key)), "")
    return family_prompts(name)[side]
