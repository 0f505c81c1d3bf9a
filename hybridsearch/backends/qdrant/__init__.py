"""The Qdrant backend (DESIGN.md §9): the same index in a Qdrant collection, our tokenizer, encoder and
fusion on top. Locations:

    qdrant://HOST:PORT/COLLECTION      a server (API key from $HSEARCH_QDRANT_API_KEY, if set)
    qdrants://HOST:PORT/COLLECTION     the same over TLS
    qdrant+local://PATH/COLLECTION     qdrant-client's local mode: in-process, stored under PATH

One collection holds everything, behind an alias named COLLECTION (a rebuild writes a new collection
and moves the alias in one step):

- a chunk is a point with the named vectors `dense` (our L2-normalised vector, dot product),
  `sentences` (its sentences' vectors, a float16 multivector, as the local backend stores them;
  the dense score mixes in the best one) and
  `bm25` (sparse: per term, the tf and length part of the BM25 weight; the engine multiplies in the
  IDF, `modifier: idf`, which is Lucene's as ours is), and its text, offsets, location and its
  document's fields as payload;
- a document is a point without vectors (its text and chunk list), and point 0 holds the index's
  state: settings, model, counts and the generation number;
- terms get their ids for the sparse vectors from a second collection, COLLECTION--terms, whose point
  ids they are: handed out in order and never reused, so two terms never share one, and the same
  across updates and rebuilds.

Every write is a new generation: points written by it carry `added = G`, the points it replaces are
marked `removed = G`, and readers see a point when `added <= their G < removed`; a write becomes
visible when point 0 says G, then the replaced points are deleted. Term weights use one average
chunk length for the whole index; a write that moves the true average more than `REWEIGHT_DRIFT`
from it re-weights every chunk.

The modules: `location` (parsing a location), `client` (the engine and the collection layout),
`reader` (`QdrantBackend`), `writer` (`QdrantWriter`), `lock` (one writer at a time).
"""

from .client import API_KEY_ENV, FORMAT
from .location import SCHEMES, Target, parse_location
from .reader import QdrantBackend, qdrant_config
from .writer import REWEIGHT_DRIFT, QdrantWriter

__all__ = [
    "API_KEY_ENV",
    "FORMAT",
    "REWEIGHT_DRIFT",
    "SCHEMES",
    "QdrantBackend",
    "QdrantWriter",
    "Target",
    "parse_location",
    "qdrant_config",
]
