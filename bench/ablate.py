"""Ablations of BM25 terms, BM25 parameters and fusion on one eval index: nDCG@10 per variant.

.venv/bin/python bench/ablate.py ../shared/bench/jsquad/dev [VARIANT ...]

Uses the index `hsearch eval` builds for the dataset (built here if missing) for the chunks and their
dense vectors, and encodes the queries once (cached beside the index as query-vectors.npy). Each
variant re-tokenises the chunks and queries, builds a BM25 index and scores every query against every
chunk, then fuses with min-max like `hsearch eval` on an index of this size (every chunk a candidate)
and ranks records by their best chunk. The `default` row equals `hsearch eval` at the same alphas.
Variants are named on the command line (all when none is).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from hybridsearch.backends.local import LocalBackend
from hybridsearch.backends.local.vectors import with_best_sentence
from hybridsearch.bm25 import BM25Index
from hybridsearch.chunking import model_input, sentence_inputs, split_sentences
from hybridsearch.config import BM25Config, IndexConfig, LoaderConfig, TermForm, TokenizerConfig
from hybridsearch.encoders import load_encoder
from hybridsearch.evaluate import eval_index_dir, load_dataset, score_ranking
from hybridsearch.fusion import RRF_K
from hybridsearch.index import HybridIndex
from hybridsearch.textnorm import normalize
from hybridsearch.tokenization import PAIR_SEPARATOR, QUESTION_WORDS, Tokenizer, analyse

ALPHAS = (0.0, 0.5, 0.6, 0.7)
Norm = Callable[[np.ndarray], np.ndarray]
Join = Callable[[str, str], str]


class Bench:
    """A dataset's eval index, query vectors and the dense score of every (query, chunk)."""

    def __init__(self, folder: str) -> None:
        self.dataset = load_dataset(folder)
        config = IndexConfig(loader=LoaderConfig(id_field="_id"))
        index_dir = eval_index_dir(self.dataset, config)
        if HybridIndex.stored_config(index_dir) is None:
            HybridIndex.build(self.dataset.corpus, index_dir, config=config)
        self.index_dir = index_dir
        index = HybridIndex.open(index_dir)
        backend = LocalBackend.open(index_dir)
        chunks = backend.chunks(range(backend.num_chunks))
        self.chunk_texts = [chunk.text for chunk in chunks]
        self.chunk_titles = [chunk.title for chunk in chunks]
        records = [chunk.record or chunk.path for chunk in chunks]
        self.records = sorted(set(records))
        position = {record: i for i, record in enumerate(self.records)}
        chunk_record = np.array([position[record] for record in records])
        self.chunk_order = np.argsort(chunk_record, kind="stable")  # chunks grouped by record
        self.record_starts = np.searchsorted(chunk_record[self.chunk_order], np.arange(len(self.records)))
        self.query_ids = list(self.dataset.queries)
        self.queries = [self.dataset.queries[q] for q in self.query_ids]
        cache = index_dir / "query-vectors.npy"
        if not cache.exists():
            started = time.time()
            np.save(cache, index.encode_queries(self.queries))
            print(f"encoded {len(self.queries)} queries in {time.time() - started:.0f} s", file=sys.stderr)
        self.query_vectors = np.load(cache)
        self.chunk_vectors = backend.vectors.vectors(np.arange(len(chunks))).astype(np.float64)
        self.chunk_dense = self.query_vectors.astype(np.float64) @ self.chunk_vectors.T  # queries × chunks
        self.sentence_counts = np.zeros(len(chunks), np.int64)
        self.dense = self.chunk_dense  # as `HybridIndex.candidates` scores every chunk of an index this size
        if backend.sentences is not None:
            self.sentence_counts = np.diff(backend.sentences.starts)
            sentence_vectors = np.asarray(backend.sentences.vectors, dtype=np.float32)
            self.dense = self.chunk_dense.copy()
            for rows, best in self.best_per_chunk(lambda rows: self.query_vectors[rows] @ sentence_vectors.T):
                block = self.dense[rows]
                block[:, self.owners] = with_best_sentence(block[:, self.owners], best)

    @property
    def owners(self) -> np.ndarray:
        """The chunks that have sentence vectors (two or more sentences)."""
        return np.flatnonzero(self.sentence_counts)

    def best_per_chunk(self, scores: Callable[[slice], np.ndarray]) -> Iterator[tuple[slice, np.ndarray]]:
        """For blocks of queries (memory), the best of `scores(rows)` (queries × sentences) per owner chunk."""
        starts = np.concatenate([[0], np.cumsum(self.sentence_counts)])[self.owners]
        for first in range(0, len(self.queries), 1000):
            rows = slice(first, first + 1000)
            yield rows, np.maximum.reduceat(scores(rows), starts, axis=1)

    def bm25(
        self, tokenizer: Tokenizer, config: BM25Config, texts: list[str] | None = None, join: Join = model_input
    ) -> np.ndarray:
        """BM25 score of every query against every text (default: each chunk joined to its title)."""
        queries, weights = self.bm25_matrices(tokenizer, config, texts, join)
        return np.asarray((queries @ weights).todense())

    def bm25_matrices(
        self, tokenizer: Tokenizer, config: BM25Config, texts: list[str] | None = None, join: Join = model_input
    ) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """Queries × terms (0/1) and terms × texts (BM25 weights): their product is `bm25`."""
        texts = texts or [join(title, text) for title, text in zip(self.chunk_titles, self.chunk_texts)]
        index = BM25Index.build([tokenizer.document_terms(text) for text in texts], config)
        rows, columns = [], []
        for row, query in enumerate(self.queries):
            for term_id in map(index.vocab.id, tokenizer.query_terms(query)):
                if term_id is not None:
                    rows.append(row)
                    columns.append(term_id)
        queries = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(self.queries), len(index.vocab)))
        return queries, index.computed_weights()

    def ndcg(self, bm25: np.ndarray, dense: np.ndarray, alpha: float, norm: Norm) -> float:
        fused = alpha * norm(dense) + (1 - alpha) * norm(bm25)
        by_record = np.maximum.reduceat(fused[:, self.chunk_order], self.record_starts, axis=1)
        top = np.argpartition(-by_record, 10, axis=1)[:, :10]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(by_record, top, axis=1), axis=1), axis=1)
        total = sum(
            score_ranking([self.records[i] for i in ranked], self.dataset.qrels[query_id])["ndcg@10"]
            for query_id, ranked in zip(self.query_ids, top)
        )
        return total / len(self.query_ids)


def minmax(scores: np.ndarray) -> np.ndarray:
    low, high = scores.min(axis=1, keepdims=True), scores.max(axis=1, keepdims=True)
    return np.where(high > low, (scores - low) / np.where(high > low, high - low, 1.0), 0.0)


def zscore(scores: np.ndarray) -> np.ndarray:
    spread = scores.std(axis=1, keepdims=True)
    return (scores - scores.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)


def three_sigma(scores: np.ndarray) -> np.ndarray:
    """Distribution-based score fusion (Qdrant's DBSF): mean ± 3 std mapped to [0, 1]."""
    mean, spread = scores.mean(axis=1, keepdims=True), scores.std(axis=1, keepdims=True)
    return np.clip((scores - mean + 3 * spread) / np.where(spread > 0, 6 * spread, 1.0), 0, 1)


def reciprocal_rank(scores: np.ndarray) -> np.ndarray:
    """1 / (60 + rank), as `--fusion rrf` with every chunk a candidate."""
    ranks = np.empty_like(scores)
    np.put_along_axis(ranks, np.argsort(-scores, axis=1), np.arange(1, scores.shape[1] + 1, dtype=float), axis=1)
    return 1.0 / (RRF_K + ranks)


def minmax_top_100(scores: np.ndarray) -> np.ndarray:
    """Min-max over each side's top 100 only; the rest take the 100th score, as a missing candidate does."""
    floor = -np.partition(-scores, 99, axis=1)[:, 99:100]
    return minmax(np.maximum(scores, floor))


# --- tokenizer variants that were measured and not kept ---------------------------------------------


class Retagged(Tokenizer):
    """A tokenizer whose (term, content, breaks) words are rewritten per MeCab word by `rewrite`."""

    def rewrite(self, word: Any, analysed: tuple[str, bool, bool]) -> tuple[str, bool, bool]:
        return analysed

    def tagged(self, text: str) -> list[tuple[str, bool, bool]]:
        form = self.config.term_form
        return [self.rewrite(word, analyse(word, form)) for word in self.tagger(normalize(text))]


class PairsAcrossPunctuation(Retagged):
    def rewrite(self, word: Any, analysed: tuple[str, bool, bool]) -> tuple[str, bool, bool]:
        return analysed[0], analysed[1], False


class PairsOfTouchingWords(Retagged):
    """Pairs only of words with nothing between them: every non-content word ends a run."""

    def rewrite(self, word: Any, analysed: tuple[str, bool, bool]) -> tuple[str, bool, bool]:
        return analysed[0], analysed[1], not analysed[1]


class LineBreaksEndRuns(Retagged):
    """No word pair across a line break (title | text, list items, headings)."""

    def rewrite(self, word: Any, analysed: tuple[str, bool, bool]) -> tuple[str, bool, bool]:
        return analysed[0], analysed[1], analysed[2] or "\n" in word.white_space


class NoLightWords(Retagged):
    """Light verbs and adjectives (する, いる, ある, なる, ない: UniDic 非自立可能) are not terms."""

    def rewrite(self, word: Any, analysed: tuple[str, bool, bool]) -> tuple[str, bool, bool]:
        light = word.feature.pos2 == "非自立可能" and word.feature.pos1 in ("動詞", "形容詞")
        return analysed[0], analysed[1] and not light, analysed[2]


class LongVowelFolded(Retagged):
    """A katakana word of 4+ characters loses a final ー (コンピューター = コンピュータ)."""

    def rewrite(self, word: Any, analysed: tuple[str, bool, bool]) -> tuple[str, bool, bool]:
        term = analysed[0]
        if len(term) >= 4 and term.endswith("ー") and all("ァ" <= ch <= "ー" for ch in term):
            term = term[:-1]
        return term, analysed[1], analysed[2]


class NounCompounds(Retagged):
    """Instead of pairs: each run of nouns, prefixes and suffixes also as one term (日本共産党)."""

    NOUNISH = ("名詞", "接頭辞", "接尾辞")

    def terms_of(self, tagged: list[tuple[str, bool, bool]]) -> list[str]:
        words = [term for term, content, _ in tagged if content]
        compounds, run = [], []
        for term, noun in [*self._nouns, ("", False)]:
            if noun:
                run.append(term)
                continue
            if len(run) > 1:
                compounds.append("".join(run))
            run = []
        return words + compounds

    def rewrite(self, word: Any, analysed: tuple[str, bool, bool]) -> tuple[str, bool, bool]:
        self._nouns.append((analysed[0], analysed[1] and word.feature.pos1 in self.NOUNISH))
        return analysed

    def tagged(self, text: str) -> list[tuple[str, bool, bool]]:
        self._nouns: list[tuple[str, bool]] = []
        return super().tagged(text)


class UnknownWordBigrams(Retagged):
    """An unknown word (not in unidic-lite) of 3+ characters also as its character bigrams."""

    def rewrite(self, word: Any, analysed: tuple[str, bool, bool]) -> tuple[str, bool, bool]:
        term = analysed[0]
        if word.is_unk and analysed[1] and len(term) > 2:
            self._bigrams += [term[i : i + 2] for i in range(len(term) - 1)]
        return analysed

    def tagged(self, text: str) -> list[tuple[str, bool, bool]]:
        self._bigrams: list[str] = []
        return super().tagged(text)

    def terms_of(self, tagged: list[tuple[str, bool, bool]]) -> list[str]:
        return super().terms_of(tagged) + self._bigrams


class WordTriples(Tokenizer):
    def terms_of(self, tagged: list[tuple[str, bool, bool]]) -> list[str]:
        terms = super().terms_of(tagged)
        pairs = [term for term in terms if PAIR_SEPARATOR in term]
        return terms + [a + PAIR_SEPARATOR + b.split(PAIR_SEPARATOR)[1] for a, b in zip(pairs, pairs[1:])
                        if a.split(PAIR_SEPARATOR)[1] == b.split(PAIR_SEPARATOR)[0]]  # fmt: skip


class SkipPairs(Tokenizer):
    """Also pairs of words one apart within a run (A B C → "A C"), a window as in sequential dependence."""

    def terms_of(self, tagged: list[tuple[str, bool, bool]]) -> list[str]:
        terms, runs, run = super().terms_of(tagged), [], []
        for term, content, breaks in tagged:
            if breaks:
                runs.append(run)
                run = []
            elif content:
                run.append(term)
        runs.append(run)
        return terms + [f"{a}{PAIR_SEPARATOR}~{c}" for run in runs for a, c in zip(run, run[2:])]


class LemmaButNames(Retagged):
    """UniDic lemma (folds okurigana and counters: 問合せ → 問い合わせ, カ国/ヶ国 → 箇国) except for
    proper nouns, whose lemma is their reading (福沢 → フクザワ): those keep their base form."""

    def rewrite(self, word: Any, analysed: tuple[str, bool, bool]) -> tuple[str, bool, bool]:
        if word.feature.pos2 == "固有名詞" and word.feature.orthBase not in (None, "*"):
            return word.feature.orthBase, analysed[1], analysed[2]
        return analysed


class NoCounterAfterQuestionWord(Tokenizer):
    """Queries also drop the counter or noun right after a question word (何年 → neither 何 nor 年)."""

    def query_terms(self, text: str) -> list[str]:
        words = [word for word in self.tagger(normalize(text))]
        after = {i for i, word in enumerate(words[1:], 1) if words[i - 1].surface in QUESTION_WORDS
                 and word.feature.pos1 in ("接尾辞", "名詞")}  # fmt: skip
        kept = "".join(word.white_space + word.surface for i, word in enumerate(words) if i not in after)
        return super().query_terms(kept) if kept.strip() else super().query_terms(text)


class NoRequestFrame(Tokenizer):
    """Queries also drop the words that only make a request (〜を教えてください, 〜について知りたい,
    どうすればいいですか, お〜): they say how the user asks, not what about."""

    POLITE = frozenset({"下さる", "頂く", "戴く", "欲しい", "仕舞う", "願う"})
    ASKING = frozenset({"教える", "知る", "聞く", "伺う", "尋ねる"})

    def query_terms(self, text: str) -> list[str]:
        words = list(self.tagger(normalize(text)))
        tagged = [analyse(word, self.config.term_form) for word in words]
        lemmas = [term for term, _, _ in tagged]
        following = [next((lemmas[j] for j in range(i + 1, len(words)) if words[j].feature.pos1 != "助詞"), "")
                     for i in range(len(words))]  # fmt: skip
        dropped = {
            i for i, word in enumerate(words)
            if lemmas[i] in self.POLITE
            or word.feature.pos1 == "接頭辞"
            or (lemmas[i] in self.ASKING and following[i] in self.POLITE | {"たい", "為る"})  # お聞きしたい
            or (lemmas[i] == "つく" and i and words[i - 1].surface == "に")  # について
            or (lemmas[i] == "良い" and i and words[i - 1].surface == "ば")  # どうすればいい
        }  # fmt: skip
        kept = [token for i, token in enumerate(tagged) if i not in dropped and token[0] not in QUESTION_WORDS]
        return self.terms_of(kept) or super().query_terms(text)


# --- the variants ------------------------------------------------------------------------------------

OLD = BM25Config(k1=1.5, b=0.75)
NO_PAIRS = TokenizerConfig(word_pairs=False)


@dataclass
class Variant:
    name: str
    tokenizer: Tokenizer = field(default_factory=Tokenizer)
    bm25: BM25Config = field(default_factory=BM25Config)
    norm: Norm = minmax
    join: Join = model_input
    scores: Callable[[Bench, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None  # (bm25, dense) → new


def best_sentence(weight: float) -> Callable[[Bench, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """BM25 of the chunk plus `weight` × BM25 of its best sentence (sentences indexed on their own)."""

    def scores(bench: Bench, bm25: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sentences, owner = [], []
        for i, text in enumerate(bench.chunk_texts):
            for start, end in split_sentences(text):
                sentences.append(text[start:end])
                owner.append(i)
        by_sentence = bench.bm25(Tokenizer(), BM25Config(), sentences)
        best = np.zeros_like(bm25)
        np.maximum.at(best.T, np.array(owner), by_sentence.T)
        return bm25 + weight * best, bench.dense

    return scores


def dense_feedback(beta: float) -> Callable[[Bench, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Dense pseudo-relevance feedback: add `beta` × similarity to the mean of the hybrid top 3."""

    def scores(bench: Bench, bm25: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        top = np.argsort(-(0.6 * minmax(bench.dense) + 0.4 * minmax(bm25)), axis=1)[:, :3]
        feedback = bench.chunk_vectors[top].mean(axis=1) @ bench.chunk_vectors.T
        return bm25, bench.dense + beta * feedback

    return scores


def title_cosines(bench: Bench) -> np.ndarray:
    """Each query's cosine to each chunk's title read alone (as a passage); -1 for a chunk without one."""
    titles = sorted({title for title in bench.chunk_titles if title})
    encoder = load_encoder(HybridIndex.stored_config(bench.index_dir).dense)  # type: ignore[union-attr]
    vectors = encoder.encode_documents(titles) if titles else np.zeros((0, bench.query_vectors.shape[1]))
    row = {title: i for i, title in enumerate(titles)}
    cosines = bench.query_vectors.astype(np.float64) @ np.asarray(vectors, np.float64).T
    found = np.array([row.get(title, -1) for title in bench.chunk_titles])
    by_chunk = cosines[:, np.maximum(found, 0)]
    by_chunk[:, found < 0] = -1.0
    return by_chunk


def title_as_sentence(bench: Bench, bm25: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The title alone as one more sentence of every chunk: ½ chunk + ½ the best of its sentences and
    its title (a chunk of one sentence: ½ chunk + ½ the better of itself and its title)."""
    best = 2 * bench.dense - bench.chunk_dense  # a chunk's best sentence, or the chunk when it has none
    return bm25, 0.5 * bench.chunk_dense + 0.5 * np.maximum(best, title_cosines(bench))


def title_mixed(weight: float) -> Callable[[Bench, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The dense score mixed with the title's own cosine: (1 − weight) × dense + weight × title."""

    def scores(bench: Bench, bm25: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        titles = title_cosines(bench)
        return bm25, np.where(titles > -1, (1 - weight) * bench.dense + weight * titles, bench.dense)

    return scores


def chunk_vectors_only(bench: Bench, bm25: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dense score without sentence vectors: the chunk's own cosine."""
    return bm25, bench.chunk_dense


def sentence_bm25(bench: Bench, bm25: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The BM25 side mixed with its best sentence's too, as the dense side is: ½ chunk + ½ best
    sentence, both min-max normalised first (a sentence index scores on another scale)."""
    sentences = [s for title, text in zip(bench.chunk_titles, bench.chunk_texts) for s in sentence_inputs(title, text)]
    queries, weights = bench.bm25_matrices(Tokenizer(), BM25Config(), sentences)
    mixed = minmax(bm25)
    for rows, best in bench.best_per_chunk(lambda rows: minmax(np.asarray((queries[rows] @ weights).todense()))):
        block = mixed[rows]
        block[:, bench.owners] = with_best_sentence(block[:, bench.owners], best)
    return mixed, bench.dense


VARIANTS = [
    Variant("words only, k1 1.5, b 0.75 (before)", Tokenizer(NO_PAIRS), OLD),
    *[
        Variant(f"words only, k1 {k1}, b {b}", Tokenizer(NO_PAIRS), BM25Config(k1=k1, b=b))
        for k1, b in ((1.2, 0.75), (0.9, 0.4), (0.5, 0.5))
    ],  # fmt: skip
    Variant("default: words + word pairs, k1 0.9, b 0.4"),
    Variant("word pairs, k1 1.5, b 0.75", bm25=OLD),
    Variant("word pairs, k1 0.5, b 0.5", bm25=BM25Config(k1=0.5, b=0.5)),
    Variant("pairs also across punctuation", PairsAcrossPunctuation()),
    Variant("pairs only of touching words (no particle between)", PairsOfTouchingWords()),
    Variant("noun compounds instead of pairs", NounCompounds(NO_PAIRS)),
    Variant("+ word triples", WordTriples()),
    Variant("+ character bigrams of unknown words", UnknownWordBigrams()),
    Variant("+ pairs of words one apart", SkipPairs()),
    Variant("line breaks end runs of words", LineBreaksEndRuns()),
    Variant("title twice (title weight 2)", join=lambda title, text: model_input(title, model_input(title, text))),
    Variant("+ light verbs/adjectives (する, いる, ない) dropped", NoLightWords()),
    Variant("+ katakana final ー folded", LongVowelFolded()),
    Variant("lemma", Tokenizer(TokenizerConfig(term_form=TermForm.LEMMA))),
    Variant("lemma, base form for proper nouns", LemmaButNames(TokenizerConfig(term_form=TermForm.LEMMA))),
    Variant("+ counter after a question word dropped (何年)", NoCounterAfterQuestionWord()),
    Variant("+ request words dropped (教えてください, について, お〜)", NoRequestFrame()),
    Variant("+ 0.25 × best sentence's BM25", scores=best_sentence(0.25)),
    Variant("+ dense feedback, beta 0.2", scores=dense_feedback(0.2)),
    Variant("chunk vectors only (no sentence vectors)", scores=chunk_vectors_only),
    Variant("+ the title alone as one more sentence", scores=title_as_sentence),
    Variant("+ 0.25 × the title alone's cosine", scores=title_mixed(0.25)),
    Variant("+ best sentence's BM25 too (½ chunk + ½ best sentence)", scores=sentence_bm25),
    Variant("z-score instead of min-max", norm=zscore),
    Variant("mean ± 3 std (DBSF) instead of min-max", norm=three_sigma),
    Variant("RRF instead of min-max", norm=reciprocal_rank),
    Variant("min-max over each side's top 100", norm=minmax_top_100),
]


def main(folder: str, wanted: list[str]) -> None:
    bench = Bench(folder)
    print("| variant | " + " | ".join("BM25" if a == 0 else f"α={a}" for a in ALPHAS) + " |")
    print("|---" * (len(ALPHAS) + 1) + "|")
    print(f"dense only: {bench.ndcg(bench.dense, bench.dense, 1, minmax):.4f}", file=sys.stderr)
    for variant in VARIANTS:
        if wanted and not any(name in variant.name for name in wanted):
            continue
        bm25, dense = bench.bm25(variant.tokenizer, variant.bm25, join=variant.join), bench.dense
        if variant.scores:
            bm25, dense = variant.scores(bench, bm25)
            print(f"{variant.name}: dense only {bench.ndcg(dense, dense, 1, minmax):.4f}", file=sys.stderr)
        row = [bench.ndcg(bm25, dense, alpha, variant.norm) for alpha in ALPHAS]
        print(f"| {variant.name} | " + " | ".join(f"{value:.4f}" for value in row) + " |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
