"""The mining pipeline: encode -> candidate search -> CrossEncoder rerank -> stored pairs.

A job is a generator of :class:`Progress` events (napari's ``thread_worker`` pattern): the CLI
draws them as progress bars, the GUI forwards them as signals from a worker thread. Cancel
with :meth:`MiningJob.cancel` from any thread; the job stops at the next batch boundary.

Usage::

    from quoradesk.core.mining import MiningJob, MiningParams

    job = MiningJob(store, sparse_model=path, reranker=None, params=MiningParams(top_k=10))
    for event in job.run():
        print(event.stage, event.done, event.total, event.eta)
    print(job.run_record.status)            # done | cancelled

Past this process: ``ray="local"`` (or a cluster's address) encodes and reranks on Ray workers
(core.cluster.ray_pool), ``milvus="vectors.db"`` (or a server's URI) runs the candidate search in
Milvus (core.cluster.milvus_index). The results are committed here in the same chunks, so progress,
cancel and resume are the same; both are checked before the run writes anything.

Every finished batch is committed (encodings chunk by chunk, the candidate pairs in one
transaction, rerank scores chunk by chunk), so a crashed or cancelled job resumes where it
stopped: a new job with the same models and parameters finds the unfinished run and
continues it. Chunks are fixed by question id, so a resumed run encodes exactly the same
batches as an uninterrupted one and gets exactly the same vectors.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import models
from ..cluster import check_milvus_uri, collection_name
from ..cluster.ray_pool import QUEUED_PER_WORKER, RayPool
from ..models.rerank import RERANK_CELLS, iter_rerank_scores, rerank_batches, rerank_scores  # noqa: F401 - re-exported
from ..search import index as search_index
from ..search.index import PrunedIndex, canonical_pairs, exact_work, make_index, prepare_rows
from ..search.margins import margin_scores
from ..search.rows import CompactRows
from ..store import Run, Store
from .params import MiningParams, Progress, encode_chunks


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere
    nothing). Encoding leaves them behind (a run's texts, its batches): 60,000 questions' encode
    stage left 137 MB that search, which then loads every vector, could not otherwise reuse."""
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):  # not glibc
        return
    trim(0)


class MiningJob:
    def __init__(
        self,
        store: Store,
        *,
        sparse_model: str | Path | None = None,
        reranker: str | Path | None = None,
        params: MiningParams | None = None,
        device: str = "auto",
        resume: bool = True,
        ray: str | None = None,
        milvus: str | None = None,
        continue_run: int | None = None,
    ):
        self.store = store
        self.sparse_model_path = models.sparse_model_path(sparse_model)
        self.reranker_path = Path(reranker) if reranker else None
        self.device = models.pick_device(device)
        asked = params or MiningParams()
        self.params = asked.on_device(self.device)
        # The fast paths asked for that this CPU lacks, said once in the run's note.
        self.fallbacks = [] if ray else asked.fallbacks(self.device)
        if ray:  # each Ray worker takes the encoding paths asked for that its own node has
            self.params = replace(self.params, encode_bf16=asked.encode_bf16, encode_int8=asked.encode_int8,
                                  encode_int8_body=asked.encode_int8 and asked.encode_int8_body)
        self.resume = resume
        # A run made ready elsewhere (Store.copy_run_to_rerank: an improved CrossEncoder
        # re-ranking a run's pairs), continued from its recorded stage instead of looked up.
        self.continue_run = continue_run
        self._cancel = threading.Event()
        self._encoder = None
        self._reranker = None
        # Check the folders before any run record is written.
        models.check_model_dir(self.sparse_model_path, "SPLADE model")
        if self.reranker_path is not None:
            models.check_model_dir(self.reranker_path, "CrossEncoder model")
        self.sparse_key = models.model_key(self.sparse_model_path)
        self.reranker_key = models.model_key(self.reranker_path) if self.reranker_path else None
        # Cluster settings are checked now (their syntax) and at run() (that they answer).
        self.ray_pool = RayPool(ray, int8=self.params.rerank_int8, encode={
            "bf16": self.params.encode_bf16, "int8": self.params.encode_int8,
            "int8_body": self.params.encode_int8_body}) if ray else None
        self.milvus_uri = check_milvus_uri(milvus) if milvus else None
        self._milvus = None
        self.node_counts = {"encode": Counter(), "rerank": Counter()}  # items per Ray node, this session
        self.node_encode_seconds: Counter = Counter()  # seconds each Ray node spent encoding them
        self.run_record: Run | None = None
        self.vocabulary = None  # the int8 encoder's project vocabulary, once encoding starts
        self.resumed = False
        self.reranker_note = ""  # why the reranker is not the one asked for, if it is not

    # ------------------------------------------------------------ control

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _open_run(self) -> Run:
        if self.store.question_count() == 0:
            raise ValueError("The project has no questions: import a file first")
        run = None
        if self.continue_run is not None:
            self.resumed = True
            self.store.update_run(self.continue_run, status="running", error=None)
            return self.store.get_run(self.continue_run)
        if self.resume:
            run = self.store.find_resumable_run(self.sparse_key, self.reranker_key, self.params.key())
        if run is not None:
            self.resumed = True
            self.store.update_run(run.id, status="running", error=None)
            return self.store.get_run(run.id)
        note = "" if self.reranker_path else "no reranking: no CrossEncoder given; scores are sparse dot products"
        return self.store.create_run(
            sparse_model=models.describe(self.sparse_model_path),
            sparse_model_key=self.sparse_key,
            reranker=models.describe(self.reranker_path) if self.reranker_path else None,
            reranker_key=self.reranker_key,
            params=self.params.key(),
            device=self.device,
            note=note,
        )

    @property
    def loaded_encoder(self):
        """The SparseEncoder this job loaded, or None (a resumed run may never need it). The
        Review tab explains this run's pairs with it instead of loading the model again."""
        return self._encoder

    def encoder(self):
        if self._encoder is None:
            self._encoder = models.shared_sparse_encoder(self.sparse_model_path, self.device)
        return self._encoder

    def reranker(self):
        if self._reranker is None and self.reranker_path is not None:
            self._reranker, self.reranker_note = models.shared_reranker(
                self.reranker_path, self.device, int8=self.params.rerank_int8)
        return self._reranker

    # ------------------------------------------------------------ the pipeline

    def run(self) -> Iterator[Progress]:
        # One miner per project at a time: a second window or command would resume the same
        # run and duplicate its work. The lock is the OS's (flock), so a killed miner frees it.
        with self.store.mining_lock():
            try:
                self._connect()  # before the run is opened: a refusal writes nothing
                yield from self._run()
            finally:
                self._disconnect()

    def _connect(self) -> None:
        if self.ray_pool is not None:
            self.ray_pool.connect()
        if self.milvus_uri is not None:
            from ..cluster.milvus_index import connect_milvus

            self._milvus = connect_milvus(self.milvus_uri)

    def _disconnect(self) -> None:
        if self.ray_pool is not None:
            self.ray_pool.close()
        if self._milvus is not None:
            self._milvus.close()
            self._milvus = None

    def _run(self) -> Iterator[Progress]:
        run = self._open_run()
        if run.stage == "encode":
            if self.ray_pool is not None:
                # The workers start and load the encoder while this process reads the questions.
                self.ray_pool.warm(self.ray_pool.ship("sparse", self.sparse_model_path))
            for line in self.fallbacks:  # said once: _add_note keeps a line only once
                self._add_note(run.id, line)
            run = self.store.get_run(run.id)
        self.run_record = run
        order = ["encode", "search", "rerank"]
        stages = {"encode": self._encode, "search": self._search, "rerank": self._rerank}
        stopped_in = None
        try:
            for stage in order[order.index(run.stage) if run.stage in order else len(order):]:
                t0 = time.perf_counter()
                finished = yield from stages[stage](run)
                if stage == "encode":
                    release_freed_memory()  # before search loads every vector
                timings = self.store.get_run(run.id).timings
                timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0
                self.store.update_run(run.id, timings=timings)
                if not finished:
                    stopped_in = stage
                    break
            if self.ray_pool is not None:
                self._note_nodes(run)
            if stopped_in:
                self.store.update_run(run.id, status="cancelled")
            else:
                self.store.update_run(run.id, status="done", stage="done", finished=time.time())
        except GeneratorExit:
            # The consumer dropped us mid-stage (e.g. Ctrl-C in the CLI): leave it resumable.
            self.store.update_run(run.id, status="cancelled")
            raise
        except BaseException as exc:
            self.store.update_run(
                run.id, status="failed", error="".join(traceback.format_exception_only(exc)).strip()
            )
            raise
        self.run_record = self.store.get_run(run.id)
        if stopped_in:
            yield Progress("cancelled", 0, 0, 0.0, 0.0, None, run.id, f"stopped during {stopped_in}")
        else:
            n = self.store.count_pairs(run.id)
            note = f" ({self.run_record.note})" if self.run_record.note else ""
            yield Progress("done", n, n, 0.0, 0.0, 0.0, run.id, f"{n} candidate pairs{note}")

    def _note_nodes(self, run: Run) -> None:
        """The run's note says what each Ray node did this session (its questions or pairs)."""
        parts = []
        for stage, unit in (("encode", "questions"), ("rerank", "pairs")):
            counts = self.node_counts[stage]
            if counts:
                nodes = ", ".join(f"node {node[:8]} {n:,}{self._node_rate(stage, node, n)}"
                                  for node, n in sorted(counts.items()))
                parts.append(f"{stage} {sum(counts.values()):,} {unit} ({nodes})")
        if parts:
            self._add_note(run.id, f"on Ray {self.ray_pool.address}: " + "; ".join(parts))

    def _node_rate(self, stage: str, node: str, n: int) -> str:
        """A node's encoding rate (" at 480 a second"), over its workers' own encoding time (no
        start-up or model loading), to set beside a local run's."""
        seconds = self.node_encode_seconds.get(node, 0.0) if stage == "encode" else 0.0
        return f" at {n / seconds:,.0f} a second" if seconds > 0 else ""

    def _add_note(self, run_id: int, line: str) -> None:
        """Append ``line`` to the run's stored note (once: a resumed run may say it again)."""
        note = self.store.get_run(run_id).note
        if line not in note:
            self.store.update_run(run_id, note="; ".join(filter(None, [note, line])))

    def _progress(self, stage, done, total, started, done_at_start, run_id, message=""):
        elapsed = time.perf_counter() - started
        rate = (done - done_at_start) / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else None
        return Progress(stage, done, total, elapsed, rate, eta, run_id, message)

    def _encode(self, run: Run):
        ids = self.store.question_ids(run.max_question_id)
        missing = set(self.store.missing_encodings(self.sparse_key, ids).tolist())
        total = len(ids)
        done = total - len(missing)
        started, at_start = time.perf_counter(), done
        yield self._progress("encode", done, total, started, at_start, run.id)
        # Chunks keep fixed boundaries (a resumed run re-encodes whole chunks, for the same
        # vectors: they depend only on the chunk's texts), so only the newly encoded questions
        # count as progress.
        chunks = [(chunk, new) for chunk in encode_chunks(ids, self.store.texts(ids), self.params.chunk_size)
                  if (new := sum(int(q) in missing for q in chunk))]
        if chunks:
            self.vocabulary = self._project_vocabulary(run, ids)
        encode = self._encode_on_ray if self.ray_pool else self._encode_here
        finished = yield from encode(run, chunks, done, total, started, at_start)
        if finished:
            self.store.update_run(run.id, stage="search")
        return finished

    def _project_vocabulary(self, run: Run, ids: np.ndarray) -> np.ndarray | None:
        """The vocabulary the int8 encoder computes in this project (models.project_vocabulary):
        the one the project keeps for this model, else one fitted now on its questions and kept
        (so a resume, a later run and Ask encode alike; the run's note says what it added);
        None without the int8 body."""
        if not self.params.encode_int8_body:
            return None
        kept = self.store.encoding_vocabulary(self.sparse_key)
        if kept is not None:
            return kept
        from ..models.encode import SpladeHeadEncoder
        from ..models.project_vocabulary import fit_project_vocabulary, sample_positions

        picked = ids[sample_positions(len(ids))]
        columns = fit_project_vocabulary(self.encoder(), self.store.texts(picked))
        if columns is not None:
            self.store.save_encoding_vocabulary(self.sparse_key, columns, len(picked))
            active = SpladeHeadEncoder.for_model(self.encoder()).active_columns
            self._add_note(run.id, f"int8 encoder: {len(columns) - len(active):,} vocabulary entries this project's "
                                   f"questions use beyond the model's {len(active):,} (fitted on {len(picked):,} of them)")
        return columns

    def _encode_here(self, run: Run, chunks, done, total, started, at_start):
        from ..models.encode import (  # imports torch: only once a run needs it
            encode_batches,
            rows_in_order,
        )

        for chunk, new in chunks:
            if self.cancelled:
                return False
            parts, encoded = [], 0
            # Cancel is checked between batches, so it lands within one batch; nothing of an
            # unfinished chunk is saved. Progress moves per batch: a chunk is seconds of work.
            for part in encode_batches(self.encoder(), self.store.texts(chunk), self.params.batch_size,
                                       bf16=self.params.encode_bf16, int8=self.params.encode_int8,
                                       int8_body=self.params.encode_int8_body, vocabulary=self.vocabulary):
                if self.cancelled:
                    return False
                parts.append(part)
                encoded += len(part[0])
                yield self._progress("encode", done + new * encoded // len(chunk), total, started, at_start,
                                     run.id)
            if self.cancelled:
                return False
            self.store.save_encodings(self.sparse_key, chunk, rows_in_order(parts))
            done += new
            yield self._progress("encode", done, total, started, at_start, run.id)
        return True

    def _encode_on_ray(self, run: Run, chunks, done, total, started, at_start):
        """The chunks encoded by the Ray workers, each committed as it comes back (in any
        order: a chunk's vectors depend only on its own texts)."""
        pool = self.ray_pool
        model = pool.ship("sparse", self.sparse_model_path)
        tasks = ((model, i, self.store.texts(chunk), self.params.batch_size, self.vocabulary)
                 for i, (chunk, _) in enumerate(chunks))
        for result in pool.map_unordered("encode", tasks, lambda: self.cancelled):
            if result is not None:
                i, node, rows, seconds = result
                chunk, new = chunks[i]
                self.store.save_encodings(self.sparse_key, chunk, rows)
                self.node_counts["encode"][node] += new
                self.node_encode_seconds[node] += seconds * new / len(chunk)
                done += new
            yield self._progress("encode", done, total, started, at_start, run.id, pool.describe())
        return not self.cancelled

    def _search(self, run: Run):
        ids = self.store.question_ids(run.max_question_id)
        # One compact copy of the vectors (search.rows), scaled in place: a million questions'
        # plain CSR copies cost 2.8 GB each.
        rows = prepare_rows(CompactRows.from_arrays(*self.store.encoding_arrays(self.sparse_key, ids, np.int16)),
                            self.params.similarity)
        if self._milvus is not None:
            from ..cluster.milvus_index import MilvusIndex

            name = collection_name(self.store.path, self.store.meta("created"), self.sparse_key,
                                   self.params.similarity)
            index = MilvusIndex(self._milvus, name, rows.to_csr(), ids)
        else:
            work = exact_work(rows) if self.params.search == "auto" else None
            index = make_index(rows, self.params.search, work=work)
            if work is not None and isinstance(index, PrunedIndex):
                # Pruned search is approximate: the run says why it was chosen.
                self._add_note(run.id, f"candidate search pruned: exact search would cost "
                                       f"{work:.1e} operations (limit {search_index.EXACT_WORK:.0e})")
        started = time.perf_counter()
        parts = []
        yield self._progress("search", 0, index.n, started, 0, run.id)
        p = self.params
        for stop, part in index.iter_neighbours(index.chunks(), p.top_k, p.min_score, keep_above=p.keep_above,
                                                max_neighbours=p.max_neighbours):
            if self.cancelled:
                return False
            parts.append(part)
            yield self._progress("search", stop, index.n, started, 0, run.id)
        n = index.n
        del index, rows  # the vectors (2.1 GB at a million questions) before the pairs' sorts
        if parts:
            found, cols, vals, ranks = (np.concatenate(x) for x in zip(*parts, strict=True))
            del parts
            a, b, s, r = canonical_pairs(found, cols, vals, ranks, n)
            del found, cols, vals, ranks
        else:
            a = b = r = np.zeros(0, np.int64)
            s = np.zeros(0, np.float32)
        first = margin_scores(a, b, s, n, weight=self.params.margin_weight)
        next_stage = "rerank" if self.reranker_path else "done"
        self.store.replace_pairs(run.id, ids[a], ids[b], s, r, first_scores=first, stage=next_stage)
        return True

    def _rerank(self, run: Run):
        if self.reranker_path is None:
            return True
        max_rank, floor = self.params.rerank_top, self.params.rerank_floor
        total = self.store.count_pairs(run.id, max_rank=max_rank, min_first=floor)
        done = self.store.count_pairs(run.id, max_rank=max_rank, min_first=floor, reranked=True)
        started, at_start = time.perf_counter(), done
        yield self._progress("rerank", done, total, started, at_start, run.id)
        rerank = self._rerank_on_ray if self.ray_pool else self._rerank_here
        finished = yield from rerank(run, done, total, started, at_start)
        if finished:
            self.store.update_run(run.id, stage="done")
        return finished

    def _rerank_here(self, run: Run, done, total, started, at_start):
        max_rank, floor = self.params.rerank_top, self.params.rerank_floor
        if done < total and self._reranker is None:
            # The first int8 use of a model exports it (seconds): say so instead of standing still.
            yield self._progress("rerank", done, total, started, at_start, run.id, "loading the reranker")
            self.reranker()
            if self.reranker_note:
                self._add_note(run.id, self.reranker_note)
            started = time.perf_counter()  # the rate and ETA are the model's, not its loading's
        while True:
            if self.cancelled:
                return False
            batch = self.store.pairs_to_rerank(run.id, max_rank, self.params.chunk_size, min_first=floor)
            if not batch:
                break
            texts_a = self.store.texts([a for a, _ in batch])
            texts_b = self.store.texts([b for _, b in batch])
            scored = []
            for part, scores in iter_rerank_scores(self.reranker(), list(zip(texts_a, texts_b, strict=True)),
                                                   self.params.rerank_batch):
                scored.extend((*batch[i], s) for i, s in zip(part, scores, strict=True))
                if self.cancelled:
                    break
            # Saved even when cancelled: a resumed run only scores the rest. (A pair's score does
            # not depend on its batch in float32; in int8 it moves a little: onnx_rerank.)
            self.store.set_rerank_scores(run.id, scored)
            done += len(scored)
            yield self._progress("rerank", done, total, started, at_start, run.id)
            if self.cancelled:
                return False
        return True

    def _rerank_on_ray(self, run: Run, done, total, started, at_start):
        """The pairs to rerank, a chunk per task, a few chunks per worker in flight; each
        chunk's scores are committed as it comes back."""
        max_rank, floor, size = self.params.rerank_top, self.params.rerank_floor, self.params.chunk_size
        pool = self.ray_pool
        pool.start_workers()
        model = pool.ship("cross", self.reranker_path)
        while not self.cancelled:
            batch = self.store.pairs_to_rerank(run.id, max_rank, size * QUEUED_PER_WORKER * len(pool.actors),
                                               min_first=floor)
            if not batch:
                return True
            parts = [batch[lo : lo + size] for lo in range(0, len(batch), size)]

            def tasks(parts=parts):
                for i, part in enumerate(parts):
                    texts = zip(self.store.texts([a for a, _ in part]), self.store.texts([b for _, b in part]),
                                strict=True)
                    yield model, i, list(texts), self.params.rerank_batch

            for result in pool.map_unordered("rerank", tasks(), lambda: self.cancelled):
                if result is not None:
                    i, node, scores = result
                    self.store.set_rerank_scores(run.id, [(*p, s) for p, s in zip(parts[i], scores, strict=True)])
                    self.node_counts["rerank"][node] += len(scores)
                    done += len(scores)
                yield self._progress("rerank", done, total, started, at_start, run.id, pool.describe())
        return False
