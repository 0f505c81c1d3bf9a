"""Loaders: a registry by file suffix; each loader gets a file's bytes and returns its Documents."""

from .base import (
    BUILTIN_FIELDS,
    FileInfo,
    LoadContext,
    Loader,
    SkipFile,
    Unsupported,
    Warn,
    loader_for,
    register_loader,
    supported_suffixes,
)
from .files import LoadReport, PathArg, iter_documents
from .legacy import load_legacy
from .markup import html_to_text, load_html, load_markdown
from .pdf import load_pdf
from .records import load_csv, load_jsonl
from .slides import load_pptx
from .text import decode_bytes, load_text
from .word import load_docx
from .workbook import load_xlsx

__all__ = [
    "BUILTIN_FIELDS",
    "FileInfo",
    "LoadContext",
    "LoadReport",
    "Loader",
    "PathArg",
    "SkipFile",
    "Unsupported",
    "Warn",
    "decode_bytes",
    "html_to_text",
    "iter_documents",
    "loader_for",
    "register_loader",
    "supported_suffixes",
]

register_loader(load_text, ".txt", ".text")
register_loader(load_markdown, ".md", ".markdown")
register_loader(load_html, ".html", ".htm")
register_loader(load_csv, ".csv")
register_loader(load_jsonl, ".jsonl")
register_loader(load_pdf, ".pdf")
register_loader(load_docx, ".docx")
register_loader(load_xlsx, ".xlsx", ".xlsm")
register_loader(load_pptx, ".pptx")
register_loader(load_legacy, ".doc", ".xls", ".ppt")
