"""Mine: models, parameters, Start/Cancel, a progress bar per stage with rate and ETA."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core import models
from ..core.adapt import project_reranker
from ..core.ask import keep_index_after_mining
from ..core.cluster import ClusterError, check_addresses
from ..core.mining import MiningJob, MiningParams, Progress
from ..core.store import Store
from .settings import (  # noqa: F401 - save_setting, saved_setting: the tests import them from here too
    _flag,
    default_model_name,
    rerank_floor_key,
    save_setting,
    saved_setting,
    setting_box,
)
from .widgets import Collapsible, PathField, SparseModelPicker
from .worker import GeneratorWorker

STAGES = ("encode", "search", "rerank")

def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class MineTab(QWidget):
    finished = Signal(int)  # run id of a finished run
    error = Signal(str)

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.worker: GeneratorWorker | None = None
        self._job: MiningJob | None = None
        self.finished_encoder = None  # the last finished run's SparseEncoder, for the Review tab
        self.ask_index_note = ""  # whether the last finished run left Ask's index kept (core.ask)
        self._cancel = threading.Event()
        settings = window.settings
        self.model = SparseModelPicker(saved_setting(settings, "mine/model", default_model_name(), str))
        reranker = models.default_reranker_path()
        # Saved with its default beside it: a folder left at the default follows a new one.
        self.reranker = PathField(saved_setting(settings, "mine/reranker", str(reranker) if reranker else "", str),
                                  caption="CrossEncoder folder")
        self.rerank = QCheckBox("Rerank the best candidates with the CrossEncoder")
        self.rerank.setChecked(bool(self.reranker.text()))
        defaults = MiningParams()
        self.top_k = QSpinBox(minimum=1, maximum=100, value=saved_setting(settings, "mine/top_k", defaults.top_k, int))
        # A question asked many ways has more close variants than top_k: keep those too.
        self.keep_above = QDoubleSpinBox(
            minimum=0.0, maximum=1.0, decimals=2, singleStep=0.05,
            value=saved_setting(settings, "mine/keep_above", defaults.keep_above, float))
        self.max_neighbours = QSpinBox(
            minimum=1, maximum=200,
            value=saved_setting(settings, "mine/max_neighbours", defaults.max_neighbours, int))
        tip = ("A question asked many ways has more close variants than the neighbours above: keep "
               "every further one scoring at least this, up to the second number a question "
               "(Quora dev questions: 96% of the known duplicates found instead of 93%, with 16% "
               "more pairs). Cosine only; set the most to the neighbours above to turn it off.")
        for w in (self.keep_above, self.max_neighbours):
            w.setToolTip(tip)
        self.rerank_top = QSpinBox(minimum=1, maximum=50,
                                   value=saved_setting(settings, "mine/rerank_top", defaults.rerank_top, int))
        similarity = settings.value("mine/similarity", defaults.similarity)
        similarity = similarity if similarity in ("cosine", "dot") else defaults.similarity
        self.rerank_floor = QDoubleSpinBox(minimum=0.0, maximum=1e6, decimals=2, singleStep=0.05,
                                           value=self._saved_floor(similarity))
        self.rerank_floor.setToolTip("Pairs whose cosine in context is below this are not reranked: lower "
                                     "ranks a little better and takes longer (cosine: 0.6, measured on "
                                     "held-out pairs)")
        self.rerank_int8 = setting_box(
            settings, "Fast reranking on a CPU (int8 model in ONNX Runtime)", "mine/rerank_int8", defaults.rerank_int8,
            "1.3-2.2x the pairs per second of the float32 model on a CPU, held-out pair AP 0.884 against 0.882 (the "
            "full CrossEncoder: 0.885 against 0.889). The shipped models carry their int8 files; another model's is made on first use (a few seconds) and "
            "cached. No effect on a GPU.")
        self.encode_bf16 = setting_box(
            settings, "Fast encoding on CPUs with native bfloat16", "mine/encode_bf16", defaults.encode_bf16,
            "Where the CPU computes in bfloat16 (AVX512-BF16 or AMX): 1.4x the questions per second, each vector "
            f"within 0.001 cosine of float32. No effect on other CPUs (this one: "
            f"{'has it' if models.native_bf16() else 'does not'}) or a GPU.")
        self.encode_int8 = setting_box(
            settings, "Fast vocabulary head on CPUs with int8 dot products", "mine/encode_int8", defaults.encode_int8,
            "Where the CPU has int8 dot products (VNNI or AMX): the SPLADE's vocabulary head in int8, 1.2-1.6x the "
            "questions per second, the same held-out pair AP to 0.001. No effect on other CPUs (this one: "
            f"{'has them' if models.native_int8() else 'does not'}) or a GPU.")
        self.encode_int8_body = setting_box(
            settings, "Fast int8 encoder body (with the int8 head)", "mine/encode_int8_body",
            defaults.encode_int8_body,
            "With the int8 head: the SPLADE's transformer body in int8 too, and its head on the model's active "
            "vocabulary, the entries this project's questions make fire (fitted once per project) and each "
            "question's own words: 1.4x the questions per second, held-out pair AP 0.851 against 0.852. Untick "
            "for the exact body (bfloat16 or float32) and the whole head.")
        self.min_score = QDoubleSpinBox(minimum=0.0, maximum=1e6, decimals=3, singleStep=0.05)
        # Similarity, search and the rerank floor are saved together (the floor per similarity).
        self.similarity = QComboBox()
        self.similarity.addItems(["cosine", "dot"])
        self.similarity.setCurrentText(similarity)
        self._floors = {similarity: self.rerank_floor.value()}  # this session's, per similarity
        self.search = QComboBox()
        self.search.addItems(["auto", "exact", "pruned"])
        search = settings.value("mine/search", defaults.search)
        self.search.setCurrentText(search if search in ("auto", "exact", "pruned") else defaults.search)
        self.search.setToolTip("Exact scores every pair sharing a token; pruned keeps the cost linear "
                               "for large files; auto: exact while it is cheap (small files, sparse vectors)")
        self.batch = QSpinBox(minimum=1, maximum=1024,
                              value=saved_setting(settings, "mine/batch", defaults.batch_size, int))
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setCurrentText(settings.value("mine/device", "auto"))

        # Dot products have no fixed scale, so a fixed similarity means nothing there, and the
        # rerank floor is the one chosen for (or the default of) the new similarity.
        def similarity_changed(similarity: str) -> None:
            for w in (self.keep_above, self.max_neighbours):
                w.setEnabled(similarity == "cosine")
            self.rerank_floor.setValue(self._floors.get(similarity, self._saved_floor(similarity)))

        self.similarity.currentTextChanged.connect(similarity_changed)
        self.rerank_floor.valueChanged.connect(self._floor_edited)
        similarity_changed(similarity)
        # The reranking settings mean nothing without a reranker: greyed out with the box.
        for w in (self.rerank_top, self.rerank_floor, self.rerank_int8):
            w.setEnabled(self.rerank.isChecked())
            self.rerank.toggled.connect(w.setEnabled)

        # Start resumes an unfinished run only with its own settings: say which Start will do
        # as the settings change.
        for signal in (self.model.changed, self.reranker.edit.textChanged, self.rerank.toggled,
                       self.top_k.valueChanged, self.keep_above.valueChanged,
                       self.max_neighbours.valueChanged, self.rerank_top.valueChanged,
                       self.rerank_floor.valueChanged, self.rerank_int8.toggled, self.encode_bf16.toggled,
                       self.encode_int8.toggled, self.encode_int8_body.toggled,
                       self.min_score.valueChanged,
                       self.similarity.currentTextChanged, self.search.currentTextChanged):
            signal.connect(self._settings_changed)

        # The first screen: what a first run decides (the model, reranking on or off, Start);
        # everything else in the Advanced section, closed until opened, with Restore defaults.
        self.model.setToolTip("Distilled (the default): four of the accurate SPLADE's six layers, twice its "
                              "questions a second at held-out pair AP 0.848. Accurate: the SPLADE with a MiniLM "
                              "body (pair AP 0.852, bench/models.py). Fast: BERT-tiny, about 4x the accurate "
                              "one's questions a second, less accurate. "
                              "Or a model folder of your own (the Train tab makes them).")
        self.rerank.setToolTip("A CrossEncoder reads each question's best candidate pair as one text and rescores "
                               "it (the default; on the 19,062 Quora dev questions it took 9.8 s of a 60 s run "
                               "and gave the ranking its AP of 0.581)")
        first = QFormLayout()
        first.addRow("Model:", self.model)
        first.addRow("", self.rerank)
        box = QGroupBox("Find duplicate questions")
        box.setLayout(first)

        tips = {
            self.reranker: "The CrossEncoder folder that reranks (the shipped one by default)",
            self.top_k: "How many nearest questions each question is paired with: more finds a few more "
                        "duplicates and stores more pairs (with the defaults, 95% of the known duplicates among "
                        "the 19,062 Quora dev questions are found)",
            self.rerank_top: "How many of each question's best candidates the CrossEncoder rescores (1: the "
                             "best only; more takes proportionally longer)",
            self.min_score: "Candidates below this similarity are never stored (0: keep every neighbour)",
            self.similarity: "Cosine (the default) compares directions and ranks each pair beside its questions' "
                             "other neighbours; dot products have no fixed scale, so a threshold means less",
            self.batch: "Questions encoded at once: larger is a little faster on a GPU, uses more memory",
            self.device: "Where the models run: auto picks a GPU when there is one",
        }
        for widget, tip in tips.items():
            widget.setToolTip(tip)
        form = QFormLayout()
        form.addRow("CrossEncoder:", self.reranker)
        form.addRow("Neighbours per question:", self.top_k)
        strong = QHBoxLayout()
        strong.addWidget(self.keep_above)
        strong.addWidget(QLabel("up to"))
        strong.addWidget(self.max_neighbours)
        strong.addWidget(QLabel("a question"))
        strong.addStretch(1)
        form.addRow("…and more from similarity:", strong)
        form.addRow("Rerank each question's best:", self.rerank_top)
        form.addRow("Rerank only from score in context:", self.rerank_floor)
        form.addRow("", self.rerank_int8)
        form.addRow("", self.encode_bf16)
        form.addRow("", self.encode_int8)
        form.addRow("", self.encode_int8_body)
        form.addRow("Minimum similarity:", self.min_score)
        form.addRow("Similarity:", self.similarity)
        form.addRow("Candidate search:", self.search)
        form.addRow("Batch size:", self.batch)
        form.addRow("Device:", self.device)
        self.restore_button = QPushButton("Restore defaults")
        self.restore_button.setToolTip("Every setting in this section back to the app's default")
        self.restore_button.clicked.connect(self.restore_defaults)
        form.addRow("", self.restore_button)
        self.more = Collapsible("Advanced settings", settings, "mine/show_advanced")
        more = QVBoxLayout(self.more.body)
        more.setContentsMargins(0, 0, 0, 0)
        more.addLayout(form)

        # Past this machine: Ray workers for encoding and reranking, Milvus for the search.
        # Off (the box unticked) the run stays in this process.
        self.advanced = QGroupBox("Advanced: run on a Ray cluster, search in Milvus")
        self.advanced.setCheckable(True)
        self.advanced.setChecked(_flag(settings.value("mine/advanced", False)))
        self.ray_address = QLineEdit(settings.value("mine/ray", "") or "")
        self.ray_address.setPlaceholderText("empty: this process; local, auto, HOST:6379 or ray://HOST:10001")
        self.ray_address.setToolTip("Encode and rerank on Ray workers, one per node (per GPU where a node "
                                    "has them). local starts Ray on this machine's cores; auto joins the "
                                    "cluster 'ray start' made here. Needs pip install 'quoradesk[cluster]'.")
        self.milvus_uri = QLineEdit(settings.value("mine/milvus", "") or "")
        self.milvus_uri.setPlaceholderText("empty: the built-in index; FILE.db (Milvus Lite) or http://HOST:19530")
        self.milvus_uri.setToolTip("Store the SPLADE vectors in a Milvus collection named after the project "
                                   "and model, and search there. A token, if the server asks for one, "
                                   "comes from the MILVUS_TOKEN environment variable.")
        advanced = QFormLayout(self.advanced)
        advanced.addRow("Ray address:", self.ray_address)
        advanced.addRow("Milvus URI:", self.milvus_uri)

        self.start_button = QPushButton("Start mining")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.bars = {s: QProgressBar() for s in STAGES}
        self.stage_labels = {s: QLabel("") for s in STAGES}
        self.status = QLabel("")
        self.status.setWordWrap(True)
        progress = QFormLayout()
        for s in STAGES:
            row = QHBoxLayout()
            row.addWidget(self.bars[s], 1)
            row.addWidget(self.stage_labels[s])
            progress.addRow(s.capitalize() + ":", row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        more.addWidget(self.advanced)
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addLayout(buttons)
        layout.addWidget(self.more)
        layout.addLayout(progress)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def restore_defaults(self) -> None:
        """The Advanced section's settings as a first run has them (the model and reranking
        choice on the first screen stay as chosen)."""
        d = MiningParams()
        reranker = models.default_reranker_path()
        self.reranker.setText(str(reranker) if reranker else "")
        self.similarity.setCurrentText(d.similarity)
        self._floors = {}
        for box, value in ((self.top_k, d.top_k), (self.keep_above, d.keep_above),
                           (self.max_neighbours, d.max_neighbours), (self.rerank_top, d.rerank_top),
                           (self.rerank_floor, d.rerank_floor), (self.min_score, d.min_score),
                           (self.batch, d.batch_size)):
            box.setValue(value)
        for box, value in ((self.rerank_int8, d.rerank_int8), (self.encode_bf16, d.encode_bf16),
                           (self.encode_int8, d.encode_int8), (self.encode_int8_body, d.encode_int8_body)):
            box.setChecked(value)
        self.search.setCurrentText(d.search)
        self.device.setCurrentText("auto")
        self.advanced.setChecked(False)
        self.ray_address.clear()
        self.milvus_uri.clear()
        self.save_settings()

    def _floor_edited(self, value: float) -> None:
        self._floors[self.similarity.currentText()] = value

    def _saved_floor(self, similarity: str) -> float:
        default = MiningParams(similarity=similarity).rerank_floor
        return saved_setting(self.window.settings, rerank_floor_key(similarity), default, float)

    def params(self) -> MiningParams:
        return MiningParams(
            top_k=self.top_k.value(), min_score=self.min_score.value(),
            keep_above=self.keep_above.value() if self.similarity.currentText() == "cosine" else None,
            max_neighbours=self.max_neighbours.value(),
            rerank_top=self.rerank_top.value(), rerank_floor=self.rerank_floor.value(),
            rerank_int8=self.rerank_int8.isChecked(), encode_bf16=self.encode_bf16.isChecked(),
            encode_int8=self.encode_int8.isChecked(), encode_int8_body=self.encode_int8_body.isChecked(),
            batch_size=self.batch.value(),
            similarity=self.similarity.currentText(), search=self.search.currentText(),
        )

    def cluster(self) -> dict:
        """The Advanced box as MiningJob's ``ray`` and ``milvus`` (None: in this process)."""
        on = self.advanced.isChecked()
        return {"ray": (self.ray_address.text().strip() or None) if on else None,
                "milvus": (self.milvus_uri.text().strip() or None) if on else None}

    def refresh(self) -> None:
        """Say what Start will do: a new run, or resume an unfinished one."""
        store = self.window.store
        if store is None:
            self.status.setText("Open or create a project first.")
            self.start_button.setEnabled(False)
            return
        self.start_button.setEnabled(self.worker is None or not self.worker.running)
        n = store.question_count()
        last = store.latest_run()
        text = f"{n} questions in the project."
        resumable = last is not None and last.status in ("cancelled", "failed", "running")
        if resumable and self.resumes(last):
            text += f" Run {last.id} stopped during {last.stage} ({last.status}): Start resumes it."
            self.start_button.setText("Resume mining")
        else:
            if resumable:
                text += (f" Run {last.id} stopped during {last.stage} with other settings: Start begins "
                         f"a new run (set them back to resume it).")
            self.start_button.setText("Start mining")
        self.status.setText(text)

    def resumes(self, run) -> bool:
        """Whether Start, with the settings shown, takes up ``run``: the same models and
        parameters (MiningJob also checks the models' contents and the questions)."""
        key = self.params().on_device(run.device).key()
        try:
            model = models.sparse_model_path(self.model.text())
        except models.ModelError:
            return False
        reranker = self.chosen_reranker() or ""
        return (run.params == key and run.sparse_model == models.describe(model)
                and (run.reranker or "") == (models.describe(reranker) if reranker else ""))

    def chosen_reranker(self) -> str | None:
        """The CrossEncoder a run started now uses: the field's, except that a shipped one (the
        distilled default or the full one) stands for the one this project improved on its labels
        (core.adapt), when it has one."""
        if not self.rerank.isChecked():
            return None
        text = self.reranker.text().strip()
        shipped = {models.SHIPPED_CROSS.resolve(), models.SHIPPED_CROSS_DISTILLED.resolve()}
        store = self.window.store
        if text and store is not None and Path(text).resolve() in shipped:
            improved = project_reranker(store)
            if improved is not None:
                return str(improved)
        return text or None

    def _settings_changed(self, *_) -> None:
        if self.window.store is not None and not (self.worker and self.worker.running):
            self.refresh()

    def save_settings(self) -> None:
        """What Start saves: every setting, each with the default it was chosen against (see
        ``saved_setting``); similarity, search and the rerank floor together."""
        params, s = self.params(), self.window.settings
        save_setting(s, "mine/model", self.model.text().strip(), default_model_name())
        reranker = models.default_reranker_path()
        save_setting(s, "mine/reranker", self.reranker.text().strip(), str(reranker) if reranker else "")
        defaults = MiningParams()
        save_setting(s, "mine/top_k", params.top_k, defaults.top_k)
        if params.keep_above is not None:
            save_setting(s, "mine/keep_above", params.keep_above, defaults.keep_above)
        save_setting(s, "mine/max_neighbours", params.max_neighbours, defaults.max_neighbours)
        save_setting(s, "mine/rerank_top", params.rerank_top, defaults.rerank_top)
        s.setValue("mine/similarity", params.similarity)
        s.setValue("mine/search", params.search)
        save_setting(s, rerank_floor_key(params.similarity), params.rerank_floor,
                     MiningParams(similarity=params.similarity).rerank_floor)
        save_setting(s, "mine/batch", params.batch_size, defaults.batch_size)
        save_setting(s, "mine/rerank_int8", params.rerank_int8, defaults.rerank_int8)
        save_setting(s, "mine/encode_bf16", params.encode_bf16, defaults.encode_bf16)
        save_setting(s, "mine/encode_int8", params.encode_int8, defaults.encode_int8)
        save_setting(s, "mine/encode_int8_body", params.encode_int8_body, defaults.encode_int8_body)
        s.setValue("mine/device", self.device.currentText())
        s.setValue("mine/advanced", self.advanced.isChecked())
        s.setValue("mine/ray", self.ray_address.text().strip())
        s.setValue("mine/milvus", self.milvus_uri.text().strip())

    def start(self) -> None:
        store = self.window.store
        if store is None or (self.worker and self.worker.running):
            return
        path = store.path
        sparse_model = self.model.text().strip()
        reranker = self.chosen_reranker()
        params, device, cluster = self.params(), self.device.currentText(), self.cluster()
        try:  # the addresses' form, at once; whether they answer is the worker's to find out
            check_addresses(**cluster)
        except ClusterError as exc:
            self.on_failed(str(exc))
            return
        self.save_settings()
        self._cancel.clear()
        for s_ in STAGES:
            self.bars[s_].setValue(0)
            self.stage_labels[s_].setText("")

        def run():
            # The worker thread gets its own connection: SQLite connections stay in one thread.
            worker_store = Store(path)
            try:
                self._job = MiningJob(worker_store, sparse_model=sparse_model, reranker=reranker,
                                      params=params, device=device, **cluster)
                if self._cancel.is_set():
                    self._job.cancel()
                where = "".join(f", {k} {v}" for k, v in cluster.items() if v)
                yield Progress("start", 0, 0, 0, 0, None, 0, f"device {self._job.device}{where}")
                for ev in self._job.run():
                    if ev.stage == "done":  # the Ask tab and `quoradesk ask` then open at once
                        yield Progress("ask-index", 0, 0, 0, 0, None, ev.run_id, "keeping Ask's index")
                        self.ask_index_note = keep_index_after_mining(worker_store, self._job)
                    yield ev
            finally:
                worker_store.close()

        self.worker = GeneratorWorker(run, cancel=self._request_cancel)
        self.worker.progress.connect(self.on_progress)
        self.worker.finished.connect(self.on_finished)
        self.worker.failed.connect(self.on_failed)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Starting…")
        self.worker.start()

    def _request_cancel(self) -> None:
        self._cancel.set()
        if self._job is not None:
            self._job.cancel()

    def cancel(self) -> None:
        if self.worker is not None:
            self.status.setText("Cancelling after the current batch…")
            self.worker.cancel()

    def on_progress(self, ev: Progress) -> None:
        if ev.stage == "start":
            self.status.setText(f"Running on {ev.message}")
        elif ev.stage == "ask-index":
            self.status.setText(f"Run {ev.run_id}: {ev.message}…")
        elif ev.stage in STAGES:
            bar = self.bars[ev.stage]
            bar.setMaximum(max(ev.total, 1))
            bar.setValue(ev.done)
            unit = "pairs" if ev.stage == "rerank" else "questions"
            self.stage_labels[ev.stage].setText(
                f"{ev.done}/{ev.total} {unit}, {ev.rate:.0f}/s, ETA {_eta(ev.eta)}"
            )
            self.status.setText(f"Run {ev.run_id}: {ev.message or ev.stage}…")
        elif ev.stage == "cancelled":
            self.status.setText(f"Run {ev.run_id} {ev.message}. Its finished work is saved: Resume continues it.")
        elif ev.stage == "done":
            for s in STAGES:
                if self.bars[s].maximum() <= 1 and self.bars[s].value() == 0:
                    self.stage_labels[s].setText("skipped")
            self.status.setText(f"Run {ev.run_id} done: {ev.message}.")
            self.status.setToolTip(self.ask_index_note)

    def on_finished(self, _result) -> None:
        self.cancel_button.setEnabled(False)
        run = self._job.run_record if self._job else None
        # Handed to the Review tab with the run: it explains matches with the same model.
        self.finished_encoder = self._job.loaded_encoder if self._job else None
        self._job = None
        self.refresh()
        if run is not None and run.status == "done":
            self.status.setText(self.status.text() + " See the Review tab.")
            self.finished.emit(run.id)

    def on_failed(self, message: str) -> None:
        self.cancel_button.setEnabled(False)
        self._job = None
        self.refresh()
        self.status.setText(f"Mining failed: {message}")
        self.error.emit(message)

    def use_model(self, kind: str, path: Path) -> None:
        (self.model if kind == "sparse" else self.reranker).setText(str(path))
        if kind == "cross":
            self.rerank.setChecked(True)
