"""Scoring shared by every backend: BM25's IDF and term weights (`bm25`) and the dense score's
sentence mix (`dense`)."""

from .bm25 import idf, length_norms, term_weights
from .dense import SENTENCE_SHARE, with_best_sentence

__all__ = ["SENTENCE_SHARE", "idf", "length_norms", "term_weights", "with_best_sentence"]
