"""Has this been asked before? One new question against a project's stored questions.

The same pipeline as mining, for a single text: the SPLADE encoder, an inverted index over the
project's stored encodings (built once, grown as questions are added), the CrossEncoder over
the best candidates, and the tokens each match shares with the question.

Usage::

    from quoradesk.core.ask import AskService

    service = AskService(store)                      # the models of the latest finished run
    result = service.ask("How do I learn Python fast?", top=10)
    for m in result.matches:                         # best first
        m.question_id, m.text, m.score, m.sparse_score, m.first_score, m.rerank_score, m.labels, m.why.text()
    service.add("How do I learn Python fast?")       # now a question of the project
    result.to_dict()                                 # what the CLI's --json and the API return

Asking never writes to the project: questions that have no stored encoding yet (imported
since the last run) are encoded in memory. Only ``add`` writes (the question, in an import of
its own, and its encoding, so the next mining run need not encode it again).

Matches are ranked as a run ranks its pairs (core.search.margins): by cosine in context, the cosine
raised or lowered by its margin over the two questions' usual closeness. A stored question's
usual closeness comes from the latest finished run with this model (the mean of its two best
cosines among the run's pairs), the asked question's from its own two best matches; a
question the run did not see counts as usual as the asked one. Reranked matches score
0.5 x reranker + 0.5 x cosine in context, the same scale as the Review tab's.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from .. import models
from ..adapt import project_reranker
from ..calibration import Calibration, RunCalibration
from ..mining import MiningParams, release_freed_memory
from ..models.rerank import rerank_scores
from ..questions import MAX_QUESTION_CHARS, Detection, ImportResult, Question, normalise
from ..review.explain import Explanation, explain_match
from ..search.index import prepare
from ..search.margins import NEIGHBOURS, in_context
from ..store import ProjectError, Store
from .index_cache import AskIndex, keep_index, usual_closeness_of

# A project whose un-encoded questions are more than this says to mine it first: encoding
# them in memory on every start would take minutes (about 250 questions a second on 2 cores).
MAX_ENCODE_ON_OPEN = 20_000
RERANK_CANDIDATES = 10  # reranked per ask: the CrossEncoder's ~3 ms a pair stays under 50 ms
# Questions added while the service is open are searched as a small side matrix, folded into
# the inverted index once there are this many (rebuilding it costs about 0.1 s at 100,000).
FOLD_ADDED = 1024


def keep_index_after_mining(store: Store, job) -> str:
    """Keep Ask's index for the project ``job`` (a MiningJob) has just mined
    (index_cache.keep_index), so the first Ask, the CLI's or a server's, answers at once instead
    of building it; returns a line for the user saying so, or why it was not kept (Ask then
    builds it when first opened: nothing is lost)."""
    started = time.perf_counter()
    encoder = job.loaded_encoder or models.shared_sparse_encoder(job.sparse_model_path, job.device)
    release_freed_memory()  # the rerank's freed heap, before every vector is read again
    try:
        kept = keep_index(store, job.sparse_key, encoder.get_embedding_dimension())
    except (ProjectError, OSError, MemoryError) as exc:
        return f"Ask's index not kept ({exc}): Ask builds it when first opened"
    if kept is None:
        return "Ask's index not kept (questions without a stored encoding, or a read-only folder): " \
               "Ask builds it when first opened"
    return f"Ask's index kept beside the project ({time.perf_counter() - started:.1f} s)"


class AskError(ValueError):
    """The question or the project cannot be asked; the message says why, for the user."""


def clean_question(text) -> str:
    """The question as the project would store it, or AskError saying what is wrong."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AskError("The question is not UTF-8 text (binary data?)") from exc
    if not isinstance(text, str):
        raise AskError(f"The question must be text, not {type(text).__name__}")
    too_long = AskError(f"The question is too long ({len(text):,} characters; at most {MAX_QUESTION_CHARS:,})")
    if len(text) > 4 * MAX_QUESTION_CHARS:  # before any work on a huge string
        raise too_long
    if any(unicodedata.category(c) == "Cc" and not c.isspace() for c in text):
        raise AskError("The question contains control characters (binary data?)")
    text = normalise(text)
    if not text:
        raise AskError("The question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise too_long
    return text


@dataclass
class Match:
    question_id: int
    text: str
    score: float  # what the list is ranked by: 0.5 x reranker + 0.5 x first_score, or first_score
    sparse_score: float  # cosine similarity of the SPLADE vectors
    rerank_score: float | None
    first_score: float = 0.0  # the cosine in context (core.search.margins), as a run's pairs have it
    labels: dict[str, int] = field(default_factory=dict)  # its reviewed pairs: {"accepted": 2, ...}
    why: Explanation = field(default_factory=Explanation)
    same_text: bool = False  # the project holds exactly this question
    probability: float | None = None  # that it is a duplicate (core.calibration); None: no calibration

    def label_summary(self) -> str:
        """Its label history in a few words: "#12, same text, accepted 2, rejected 1"."""
        notes = [f"#{self.question_id}"] + ["same text"] * self.same_text
        return ", ".join(notes + [f"{label} {n}" for label, n in sorted(self.labels.items())])

    def to_dict(self) -> dict:
        out = asdict(self)
        out["why"] = {"content": self.why.content, "also": self.why.also}
        return out


@dataclass
class AskResult:
    question: str  # as cleaned
    matches: list[Match]
    seconds: dict[str, float]  # encode, search, rerank
    added_id: int | None = None

    def to_dict(self) -> dict:
        return {"question": self.question, "matches": [m.to_dict() for m in self.matches],
                "seconds": self.seconds, "added_id": self.added_id}


class AskService:
    """Queries against one project; use it from one thread (SQLite's rule for a connection).

    ``sparse_model``: a SPLADE folder; default the latest finished run's model when its folder
    is here, else the shipped one. ``reranker``: a CrossEncoder folder, ``None`` for none;
    default the one the project improved on its labels (core.adapt), else the shipped one. ``int8``: run it as the int8 model on a CPU (as mining does).
    ``margin_weight``: the context's weight (None: mining's default; 0 ranks by cosine).
    """

    def __init__(self, store: Store, *, sparse_model: str | Path | None = None,
                 reranker: str | Path | None | bool = True, device: str = "cpu", int8: bool = True,
                 max_encode: int = MAX_ENCODE_ON_OPEN, margin_weight: float | None = None):
        started = time.perf_counter()
        self.store = store
        self.device = models.pick_device(device)
        self.sparse_model = models.sparse_model_path(sparse_model) if sparse_model else self._run_model()
        self.model_key = models.model_key(self.sparse_model)
        self.encoder = models.shared_sparse_encoder(self.sparse_model, self.device)
        self.reranker = None
        if reranker is True:  # the CrossEncoder this project improved on its labels, else the shipped one
            reranker = project_reranker(store) or models.default_reranker_path()
        if reranker:
            self.reranker = models.shared_cross_encoder(reranker, self.device, int8=int8)
        defaults = MiningParams()
        self.weight = defaults.rerank_weight  # as mining fuses the two scores (cosine)
        self.margin_weight = defaults.margin_weight if margin_weight is None else margin_weight
        # The duplicate probability, as the models' calibrations give it for mined pairs
        # (with no context, margin_weight 0, the sparse path's map does not apply).
        self.calibration = RunCalibration(
            Calibration.load(reranker, "reranked") if reranker else None,
            Calibration.load(self.sparse_model, "sparse") if self.margin_weight else None)
        self.precision = self._run_precision()  # encode_csr's bf16, int8 and vocabulary arguments
        loaded = time.perf_counter()

        self.ids = store.question_ids()
        if len(self.ids) == 0:
            raise AskError(f"{store.path.name} has no questions yet: import a question file first")
        missing = store.missing_encodings(self.model_key, self.ids)
        if len(missing) > max_encode:
            raise AskError(
                f"{len(missing):,} questions of {store.path.name} have no stored encoding for "
                f"{models.describe(self.sparse_model)}: mine the project first "
                f"(quoradesk mine --db {store.path}, or the Mine tab)")
        self.encoded_in_memory = len(missing)
        self.dim = self.encoder.get_embedding_dimension()
        self._raw: sparse.csr_matrix | None = None  # every row's raw vector, read when first needed
        self._added = sparse.csr_matrix((0, self.dim), dtype=np.float32)  # rows added since the index
        self.index_kept = self._open_index(missing)
        self.open_seconds = {"models": loaded - started, "index": time.perf_counter() - loaded}

    # ------------------------------------------------------------ building the index

    def _open_index(self, missing: np.ndarray) -> bool:
        """The index the project keeps for these questions, encodings and run (index_cache), or one
        built now and kept for the next process; True when a kept one served. Questions encoded
        in memory here (none stored yet) make an index nobody else can use: built, not kept."""
        latest = self.store.latest_run("done")
        key = None if len(missing) else AskIndex.key_for(self.store, self.model_key, self.ids,
                                                         latest.id if latest is not None else None)
        kept = AskIndex.load(self.store, key) if key is not None else None
        served = kept is not None
        if kept is None and key is not None:  # built from the stored encodings, into its files
            kept = AskIndex.build(self.store, key, self.ids, self.dim)
        if kept is not None and np.array_equal(kept.ids, self.ids) and kept.inverted.shape[0] == self.dim:
            self.context_run = key["context_run"]
            self.inverted, self.usual = kept.inverted, np.array(kept.usual)
            self.indexed = len(self.ids)
            self.side = sparse.csr_matrix((0, self.dim), dtype=np.float32)
            return served
        self._set_matrix(self._encodings(self.ids, missing))
        self.usual = self._usual_closeness()  # in memory: questions without a stored vector, or an unwritable folder
        return False

    @property
    def raw(self) -> sparse.csr_matrix:
        """Every question's raw vector in ``ids`` order (a kept index leaves them in the project
        until a fold needs them all)."""
        if self._raw is None:
            stored = self.store.load_encodings(self.model_key, self.ids[: self.indexed], dim=self.dim)
            self._raw = sparse.vstack([sparse.csr_matrix(stored, dtype=np.float32), self._added]).tocsr()
        return self._raw

    def _rows(self, positions: list[int]) -> list[sparse.csr_matrix]:
        """Raw vectors of the questions at ``positions``, without reading every row."""
        if self._raw is not None:
            return [self._raw[i] for i in positions]
        stored = [i for i in positions if i < self.indexed]
        loaded = self.store.load_encodings(self.model_key, self.ids[stored], dim=self.dim) if stored else None
        where = {i: k for k, i in enumerate(stored)}
        return [loaded[where[i]] if i in where else self._added[i - self.indexed] for i in positions]

    def _run_model(self) -> Path:
        run = self.store.latest_run("done")
        if run is not None and run.sparse_model:
            found = models.run_sparse_model(run)
            if found is not None:
                return found
            if Path(run.sparse_model).is_dir():  # changed since the run: its encodings are made here
                return Path(run.sparse_model)
        return models.default_sparse_model_path()

    def _run_precision(self) -> dict:
        """Encode as the stored vectors were (a question asked again then scores 1.0): as the
        latest finished run with this model did, else as a new run here would (a run from
        before the int8 head recorded no ``encode_int8``: it encoded without it), with the
        project's vocabulary for the int8 encoder (``models.project_vocabulary``)."""
        run = self.store.latest_run("done")
        if run is not None and run.sparse_model_key == self.model_key and "encode_bf16" in run.params:
            on_cpu = self.device == "cpu"
            paths = {"bf16": bool(run.params["encode_bf16"]) and on_cpu,
                     "int8": bool(run.params.get("encode_int8", False)) and on_cpu,
                     "int8_body": bool(run.params.get("encode_int8_body", False)) and on_cpu}
        else:
            params = MiningParams().on_device(self.device)
            paths = {"bf16": params.encode_bf16, "int8": params.encode_int8, "int8_body": params.encode_int8_body}
        vocabulary = self.store.encoding_vocabulary(self.model_key) if paths["int8_body"] else None
        return {**paths, "vocabulary": vocabulary}

    def _usual_closeness(self) -> np.ndarray:
        """Per question in ``self.ids`` order: its usual closeness in the latest finished run
        with this model (margins.usual_closeness over the run's cosines), NaN for a question
        the run did not see (imported since, or no such run)."""
        run = self.store.latest_run("done")
        self.context_run = run.id if run is not None else None
        return usual_closeness_of(self.store, self.ids, self.model_key, self.context_run)

    def _encodings(self, ids: np.ndarray, missing: np.ndarray) -> sparse.csr_matrix:
        """Rows in ``ids`` order: stored encodings, and in-memory ones for ``missing``."""
        from ..models.encode import encode_csr

        have = np.setdiff1d(ids, missing, assume_unique=True)
        dim = self.encoder.get_embedding_dimension()
        parts, order = [], []
        if len(have):
            parts.append(self.store.load_encodings(self.model_key, have, dim=dim))
            order.append(have)
        if len(missing):
            parts.append(encode_csr(self.encoder, self.store.texts(missing), 32, **self.precision))
            order.append(missing)
        matrix = sparse.vstack(parts).tocsr()
        position = np.argsort(np.concatenate(order), kind="stable")  # back to ids order
        return matrix[position]

    def _set_matrix(self, raw: sparse.csr_matrix) -> None:
        """Index ``raw`` (rows in ``self.ids`` order) afresh; nothing added on the side."""
        self._raw = sparse.csr_matrix(raw, dtype=np.float32)
        self._added = sparse.csr_matrix((0, self._raw.shape[1]), dtype=np.float32)
        # Token-major (the inverted index: a row per token, its questions and weights): a
        # question's tokens pick their posting lists. 8.6 ms a search at 100,000 questions,
        # against 11.1 slicing the columns of a CSC matrix and 18 for a dense product.
        self.inverted = prepare(self._raw, "cosine").T.tocsr()
        self.inverted.sort_indices()
        self.indexed = len(self.ids)  # rows in the inverted index; the rest are on the side
        self.side = sparse.csr_matrix((0, self._raw.shape[1]), dtype=np.float32)

    def _append(self, ids: np.ndarray, raw: sparse.csr_matrix) -> None:
        """Grow the index by questions newer than every indexed one (ids stay sorted)."""
        self.ids = np.concatenate([self.ids, ids])
        self.usual = np.concatenate([self.usual, np.full(len(ids), np.nan)])
        raw = sparse.csr_matrix(raw, dtype=np.float32)
        self._added = sparse.vstack([self._added, raw]).tocsr()
        if self._raw is not None:
            self._raw = sparse.vstack([self._raw, raw]).tocsr()
        if len(self.ids) - self.indexed >= FOLD_ADDED:
            self._set_matrix(self.raw)
        else:
            self.side = prepare(self._added, "cosine")

    def refresh(self) -> int:
        """Take in questions imported since the index was built (another window, the CLI),
        and the usual closeness of a run finished since; returns how many questions. Their
        stored encodings are used, or they are encoded here."""
        row = self.store.db.execute("select max(id) from questions").fetchone()
        new = np.zeros(0, np.int64)
        if row[0] is not None and row[0] > self.ids[-1]:
            new = self.store.question_ids()
            new = new[new > self.ids[-1]]
            missing = self.store.missing_encodings(self.model_key, new)
            self._append(new, self._encodings(new, missing))
        latest = self.store.latest_run("done")
        if (latest.id if latest is not None else None) != self.context_run:
            self.usual = self._usual_closeness()
            self.precision = self._run_precision()  # as that run encoded
        return len(new)

    # ------------------------------------------------------------ asking

    def ask(self, text, top: int = 10) -> AskResult:
        """The ``top`` stored questions closest to ``text``, best first; AskError for a text
        that cannot be a question (empty, too long, binary)."""
        from ..models.encode import encode_csr

        question = clean_question(text)
        top = max(1, min(int(top), 100))
        self.refresh()
        t0 = time.perf_counter()
        vec = self._stored_vector(question)
        if vec is None:
            vec = encode_csr(self.encoder, [question], 1, **self.precision)
        t1 = time.perf_counter()
        unit = prepare(vec, "cosine")
        cosine = np.concatenate([
            (unit @ self.inverted).toarray().ravel(),  # the inverted index
            (self.side @ unit.T).toarray().ravel(),  # questions added since it was built
        ])
        wanted = max(top, RERANK_CANDIDATES if self.reranker is not None else top)
        best = np.flatnonzero(cosine > 0)
        if len(best) > wanted:
            best = best[np.argpartition(-cosine[best], wanted - 1)[:wanted]]
        best = best[np.lexsort((self.ids[best], -cosine[best]))]  # ties: the older question first
        t2 = time.perf_counter()
        texts = self.store.texts(self.ids[best])
        rerank: list[float | None] = [None] * len(best)
        if self.reranker is not None and len(best):
            n = min(len(best), RERANK_CANDIDATES)
            rerank[:n] = rerank_scores(self.reranker, [(question, t) for t in texts[:n]], 16)
        t3 = time.perf_counter()
        first = self._in_context(cosine[best], self.usual[best], [t == question for t in texts])
        matches = []
        for i, t, r, f in zip(best.tolist(), texts, rerank, first.tolist(), strict=True):
            score = f if r is None else self.weight * float(r) + (1 - self.weight) * f
            matches.append(Match(int(self.ids[i]), t, score, float(cosine[i]), None if r is None else float(r),
                                 first_score=f, same_text=t == question))
        # reranked ones first (as mining ranks), each part by its score
        matches.sort(key=lambda m: (m.rerank_score is None, -m.score))
        matches = matches[:top]
        for m in matches:
            m.probability = self.calibration.probability(m.score if m.rerank_score is not None else None,
                                                         m.first_score)
        self._describe(matches, vec)
        seconds = {"encode": t1 - t0, "search": t2 - t1, "rerank": t3 - t2,
                   "total": time.perf_counter() - t0}
        return AskResult(question, matches, seconds)

    def _stored_vector(self, question: str):
        """The project's stored vector of this very text, if it holds it: a question asked again
        then scores 1.0 against itself and finds the neighbours mining found (the int8 encoder
        gives a question alone a vector within 0.002 cosine of its batched one, not the same),
        and skips the encoder. None when the text is new or has no stored vector yet."""
        qid = self.store._ids_for_texts([question]).get(question)
        if qid is None:
            return None
        try:
            vec = self.store.load_encodings(self.model_key, [int(qid)], self.dim)
        except ProjectError:  # imported but not encoded yet
            return None
        return vec if vec.nnz else None

    def _in_context(self, cosine: np.ndarray, usual: np.ndarray, same_text: list[bool]) -> np.ndarray:
        """The candidates' cosines in context (margins.margin_scores' formula). The asked
        question's usual closeness: the mean of its best cosines to other texts, as a run
        would have it once the question is added."""
        others = np.sort(cosine[~np.array(same_text, dtype=bool)])[::-1][:NEIGHBOURS]
        asked = float(others.mean()) if len(others) else 0.0
        return in_context(cosine.astype(np.float64), asked, np.where(np.isnan(usual), asked, usual),
                          self.margin_weight)

    def _describe(self, matches: list[Match], vec: sparse.csr_matrix) -> None:
        """Each match's label history and the tokens it shares with the question."""
        if not matches:
            return
        counts = self.store.label_counts([m.question_id for m in matches])
        rows = self._rows([int(np.searchsorted(self.ids, m.question_id)) for m in matches])  # ids are sorted
        for m, row in zip(matches, rows, strict=True):
            m.labels = counts.get(m.question_id, {})
            m.why = explain_match(self.encoder, vec, row, top_k=6, also_k=3)

    # ------------------------------------------------------------ adding

    def add(self, text) -> int:
        """Add ``text`` to the project (an import of its own) and to the index; returns its
        question id (the existing one when the project has this text already)."""
        from ..models.encode import encode_csr

        question = clean_question(text)
        existing = self.store._ids_for_texts([question]).get(question)
        if existing is not None:
            return int(existing)
        result = ImportResult(path="(asked)", detected=Detection(format="txt", encoding="utf-8"),
                              questions=[Question(question, ["asked"])], rejected=[], rows_total=1,
                              merged=0, entries=1)
        self.refresh()  # questions imported elsewhere meanwhile keep the ids in order
        vec = encode_csr(self.encoder, [question], 1, **self.precision)
        self.store.add_import(result)
        qid = int(self.store._ids_for_texts([question])[question])
        self.store.save_encodings(self.model_key, np.array([qid]), vec)
        self._append(np.array([qid]), vec)  # a new question has the highest id
        return qid
