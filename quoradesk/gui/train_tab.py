"""Train: data, base model and the hyper-parameters that matter; Start/Stop on a worker;
live plots of the training loss and the held-out metric; the evaluation table; one click
to mine with the new model."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core import models, training
from ..core.training import DenseConfig, LossHistory, train_dense
from .widgets import Collapsible, PathField
from .worker import GeneratorWorker, collect_everything

DISTIL_LOSS = "mnrl-cos+distil"  # the loss the shipped SPLADE was trained with (train_default_models.py)
CROSS_HARD_NEGATIVES = 3  # neighbours per question, as the shipped CrossEncoder was trained


LOSS_COLOURS = ("#2c7be5", "#e67e22", "#8e44ad", "#16a085")


KINDS = ("sparse", "cross", "dense")  # the kind box's items, in order
FOLDER_NAMES = {"sparse": "splade", "cross": "cross", "dense": "dense"}


class TrainTab(QWidget):
    use_for_mining = Signal(str, object)  # kind, model folder
    error = Signal(str)

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.worker: GeneratorWorker | None = None
        self.stop_flag = threading.Event()
        self.result: training.TrainResult | None = None
        self.kind = QComboBox()
        # Indexes: KINDS. The dense bi-encoder is the seeds' first recipe (MNRL on duplicates).
        self.kind.addItems(["SPLADE (sparse encoder)", "CrossEncoder (reranker)", "Dense bi-encoder (SentenceTransformer)"])
        self.kind.currentIndexChanged.connect(self.kind_changed)
        self.from_file = QRadioButton("Quora-format pair file:")
        self.from_project = QRadioButton("This project's reviewed pairs")
        self.from_file.setChecked(True)
        self.data = PathField(folder=False, caption="Pair file", file_filter="Pair files (*.tsv *.csv)")
        self.base = PathField(caption="Base model folder")
        self.out = PathField(caption="Save the model in")
        self.epochs = QDoubleSpinBox(minimum=0.1, maximum=50, value=1.0, singleStep=0.5)
        self.batch = QSpinBox(minimum=2, maximum=1024, value=64)
        self.lr = QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=1e-2, value=1e-4, singleStep=1e-5)
        self.lambda_q = QDoubleSpinBox(decimals=6, minimum=0, maximum=1, value=5e-5, singleStep=1e-5)
        self.lambda_c = QDoubleSpinBox(decimals=6, minimum=0, maximum=1, value=3e-5, singleStep=1e-5)
        self.max_steps = QSpinBox(minimum=-1, maximum=10**7, value=-1)
        self.max_steps.setSpecialValueText("all")
        # SPLADE only: learn to rank neighbour pairs as the CrossEncoder does (distillation).
        self.distil = QCheckBox("Learn from a CrossEncoder (distillation)")
        self.distil.setToolTip("The teacher scores each training question's nearest neighbours "
                               "first; the SPLADE then learns that ranking as well as the pairs")
        reranker = models.teacher_reranker_path()
        self.teacher = PathField(str(reranker) if reranker else "", caption="Teacher CrossEncoder folder")
        self.distil.setChecked(reranker is not None)
        # CrossEncoder only: the negatives that sharpen a reranker (training_negatives).
        self.swapped = QCheckBox("Add swapped comparisons as non-duplicates")
        self.swapped.setToolTip("\"Is A better than B?\" is not \"Is B better than A?\": each training "
                                "question with a comparison or a direction gets its swap as a negative")
        self.hard_negatives = QCheckBox("Add the pipeline's hard negatives")
        self.hard_negatives.setToolTip("Each training question's three nearest neighbours by the Mine tab's "
                                       "SPLADE that no label makes duplicates, minus those the teacher "
                                       "CrossEncoder scores as likely duplicates (about 3x the training "
                                       "examples on Quora data)")
        self.swapped.setChecked(True)  # both on: the shipped CrossEncoder's recipe
        self.hard_negatives.setChecked(True)

        # The first screen: what to train, on which pairs, where to save it; the rest in the
        # Advanced section, closed until opened, with Restore defaults.
        self.kind.setToolTip("SPLADE: the model that finds candidates (what the Mine tab's Model is). "
                             "CrossEncoder: the reranker. Dense: a SentenceTransformer, for comparison.")
        self.from_project.setToolTip("The pairs you accepted and rejected in Review: the model learns your domain")
        tips = {
            self.base: "The model training starts from (the shipped one of this kind by default)",
            self.epochs: "Passes over the training pairs: more fits them more closely (and can overfit a few hundred)",
            self.batch: "Pairs a step: larger gives the in-batch losses more negatives, uses more memory",
            self.lr: "How far each step moves the weights: the default suits fine-tuning",
            self.lambda_q: "SPLADE only: how hard queries are pushed towards fewer tokens (sparser, faster search)",
            self.lambda_c: "SPLADE only: the same for the stored questions",
            self.max_steps: "Stop after this many steps (all: the epochs decide)",
            self.teacher: "The CrossEncoder whose scores the SPLADE learns from, and which filters hard negatives",
        }
        for widget, tip in tips.items():
            widget.setToolTip(tip)
        first = QFormLayout()
        first.addRow("Train:", self.kind)
        first.addRow(self.from_file, self.data)
        first.addRow("", self.from_project)
        first.addRow("Save to:", self.out)
        box = QGroupBox("Training")
        box.setLayout(first)
        form = QFormLayout()
        form.addRow("Base model:", self.base)
        form.addRow("Epochs:", self.epochs)
        form.addRow("Batch size:", self.batch)
        form.addRow("Learning rate:", self.lr)
        self.lambda_rows = [("SPLADE λ query:", self.lambda_q), ("SPLADE λ corpus:", self.lambda_c)]
        for label, w in self.lambda_rows:
            form.addRow(label, w)
        form.addRow("Max steps:", self.max_steps)
        form.addRow("", self.distil)
        form.addRow("", self.swapped)
        form.addRow("", self.hard_negatives)
        form.addRow("Teacher:", self.teacher)
        self.restore_button = QPushButton("Restore defaults")
        self.restore_button.setToolTip("Every setting in this section back to the app's default for this kind")
        self.restore_button.clicked.connect(self.restore_defaults)
        form.addRow("", self.restore_button)
        self.more = Collapsible("Advanced settings", window.settings, "train/show_advanced")
        self.more.body.setLayout(form)

        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.use_button = QPushButton("Use for mining")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_model)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        self.loss_plot = pg.PlotWidget(background="w", title="Training loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.addLegend(offset=(-10, 10))
        # One thin line of raw values and one thick smoothed trend per task (LossHistory)
        self.loss_history = LossHistory()
        self.loss_curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self.metric_plot = pg.PlotWidget(background="w", title="Held-out AP")
        self.metric_plot.setLabel("bottom", "step")
        self.metric_curve = self.metric_plot.plot([], [], pen=pg.mkPen("#27ae60", width=2), symbol="o")
        self.metric_points: list[tuple[int, float]] = []
        self.results = QTableWidget(0, 2)
        self.results.setHorizontalHeaderLabels(["Held-out metric", "Value"])
        self.results.horizontalHeader().setStretchLastSection(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.use_button)
        buttons.addStretch(1)
        left = QVBoxLayout()
        left.addWidget(box)
        left.addWidget(self.more)
        left.addLayout(buttons)
        left.addWidget(self.status)
        left.addWidget(self.results, 1)
        right = QVBoxLayout()
        right.addWidget(self.loss_plot)
        right.addWidget(self.metric_plot)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right, 1)
        self.kind_changed(0)

    def restore_defaults(self) -> None:
        """The Advanced section as a first run has it, for the kind chosen."""
        self.epochs.setValue(1.0)
        self.batch.setValue(64)
        self.lr.setValue(1e-4)
        self.lambda_q.setValue(5e-5)
        self.lambda_c.setValue(3e-5)
        self.max_steps.setValue(-1)
        reranker = models.teacher_reranker_path()
        self.teacher.setText(str(reranker) if reranker else "")
        self.distil.setChecked(reranker is not None)
        self.swapped.setChecked(True)
        self.hard_negatives.setChecked(True)
        out = self.out.text()
        self.kind_changed(self.kind.currentIndex())  # the kind's base model, batch and learning rate
        self.out.setText(out)  # where to save is not a setting: kept

    def kind_changed(self, index: int) -> None:
        kind = KINDS[index]
        sparse = kind == "sparse"
        base = {"sparse": models.default_sparse_model_path(),
                "cross": models.minilm_path() or models.teacher_reranker_path(),
                "dense": models.minilm_path()}[kind]
        self.base.setText(str(base) if base else "")
        self.batch.setValue({"sparse": 64, "cross": 32, "dense": 64}[kind])  # the shipped models' settings
        self.lr.setValue({"sparse": 1e-4, "cross": 5e-5, "dense": 2e-5}[kind])
        for _, w in self.lambda_rows:
            w.setEnabled(sparse)
        self.distil.setEnabled(sparse)
        self.teacher.setEnabled(kind in ("sparse", "cross"))
        self.swapped.setEnabled(kind == "cross")
        self.hard_negatives.setEnabled(kind == "cross")
        stamp = time.strftime("%Y%m%d-%H%M")
        home = Path(self.window.settings.value("train/dir", str(Path.home() / "QuoraDesk models")))
        self.out.setText(str(home / f"{FOLDER_NAMES[kind]}-{stamp}"))

    def start(self) -> None:
        if self.worker is not None and self.worker.running:
            return
        kind = KINDS[self.kind.currentIndex()]
        sparse = kind == "sparse"
        try:
            if self.from_project.isChecked():
                if self.window.store is None:
                    raise training.TrainingError("Open a project first")
                pairs = training.pairs_from_store(self.window.store)
            else:
                pairs = training.read_pair_file(self.data.text().strip())
            train, held = training.split_held_out(pairs, 0.15, seed=12)
        except (training.TrainingError, OSError) as exc:
            self.status.setText(f"<b>Cannot train:</b> {exc}")
            self.error.emit(str(exc))
            return
        if sparse:
            config = training.SparseConfig(
                epochs=self.epochs.value(), batch_size=self.batch.value(), learning_rate=self.lr.value(),
                lambda_query=self.lambda_q.value(), lambda_corpus=self.lambda_c.value(),
                max_steps=self.max_steps.value(), logging_steps=1,
                loss=DISTIL_LOSS if self.distil.isChecked() else "mnrl-cos",
            )
        elif kind == "cross":
            config = training.CrossConfig(
                epochs=self.epochs.value(), batch_size=self.batch.value(), learning_rate=self.lr.value(),
                max_steps=self.max_steps.value(), logging_steps=1, swapped=self.swapped.isChecked(),
                hard_negatives=CROSS_HARD_NEGATIVES if self.hard_negatives.isChecked() else 0,
            )
        else:
            config = DenseConfig(
                epochs=self.epochs.value(), batch_size=self.batch.value(), learning_rate=self.lr.value(),
                max_steps=self.max_steps.value(), logging_steps=1, loss="mnrl",
            )
        fn = {"sparse": training.train_sparse, "cross": training.train_cross, "dense": train_dense}[kind]
        base, out = self.base.text().strip(), self.out.text().strip()
        self.window.settings.setValue("train/dir", str(Path(out).parent))
        self.stop_flag.clear()
        self.loss_history.clear()
        for raw, trend in self.loss_curves.values():
            self.loss_plot.removeItem(raw)
            self.loss_plot.removeItem(trend)
        self.loss_curves.clear()
        self.metric_points.clear()
        self.metric_curve.setData([], [])
        self.results.setRowCount(0)
        self.use_button.setEnabled(False)

        extra = {"teacher": self.teacher.text().strip() or None} if sparse and self.distil.isChecked() else {}
        if kind == "cross" and self.hard_negatives.isChecked():
            try:
                miner = models.sparse_model_path(self.window.mine_tab.model.text())
            except models.ModelError as exc:
                self.status.setText(f"<b>Cannot train:</b> {exc}")
                self.error.emit(str(exc))
                return
            extra = {"miner": miner, "teacher": self.teacher.text().strip() or None}

        def run():
            # Runs on the worker thread; each event crosses to the UI thread as a queued signal.
            return fn(base, train, held, out, config, on_event=self.worker.progress.emit,
                      stop=self.stop_flag, **extra)

        self.worker = GeneratorWorker(run, cancel=self.stop_flag.set)
        self.worker.progress.connect(self.on_event)
        self.worker.finished.connect(self.on_finished)
        self.worker.failed.connect(self.on_failed)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText(f"Training on {len(train)} pairs, {len(held)} held out…")
        self.worker.start()

    def stop(self) -> None:
        self.stop_flag.set()
        self.status.setText("Stopping after the current step; the model will be saved…")

    def on_event(self, e: training.TrainEvent) -> None:
        if e.kind == "loss" and "loss" in e.values:
            self.loss_history.add(e)
            self.draw_losses()
            per_task = e.values.get("task_losses") or {"loss": e.values["loss"]}
            losses = ", ".join(f"{LossHistory.label(k)} {float(v):.4f}" for k, v in per_task.items())
            self.status.setText(f"Step {e.step}, epoch {e.epoch:.2f}, {losses}")
        elif e.kind == "teacher":
            self.status.setText(f"The teacher scored {e.values['done']} of {e.values['total']} "
                                "neighbour pairs…")
        elif e.kind == "eval":
            ap = next((float(v) for k, v in e.values.items()
                       if k.endswith(("cosine_ap", "average_precision"))), None)
            if ap is not None:
                self.metric_points.append((e.step, ap))
                xs, ys = zip(*self.metric_points, strict=True)
                self.metric_curve.setData(list(xs), list(ys))

    def draw_losses(self) -> None:
        for i, name in enumerate(self.loss_history.series):
            if name not in self.loss_curves:
                colour = LOSS_COLOURS[i % len(LOSS_COLOURS)]
                raw = self.loss_plot.plot([], [], pen=pg.mkPen(colour + "66", width=1))
                trend = self.loss_plot.plot([], [], pen=pg.mkPen(colour, width=2.5),
                                            name=LossHistory.label(name))
                self.loss_curves[name] = (raw, trend)
            raw, trend = self.loss_curves[name]
            steps, values = self.loss_history.points(name)
            raw.setData(steps, values)
            trend.setData(steps, self.loss_history.trend(name))

    def on_finished(self, result: training.TrainResult) -> None:
        result.model = None  # saved in result.path: the window needs the folder, not the weights
        self.result = result
        collect_everything()  # the training's model and trainer: cycles the freeze would keep
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        # Mining has no dense stage: a dense model is measured here (and by `quoradesk evaluate`).
        dense = KINDS[self.kind.currentIndex()] == "dense"
        self.use_button.setEnabled(not dense)
        self.use_button.setToolTip("Mining uses SPLADE and CrossEncoder models; a dense model is "
                                   "not one of its stages" if dense else "")
        state = "stopped early" if result.stopped else "finished"
        cal = result.card.get("calibration") or {}
        calibrated = (f" Its duplicate probability was fitted on {cal['pairs']} held-out pairs." if cal.get("fitted")
                      else f" No duplicate probability: {cal['why']}." if cal.get("why") else "")
        self.status.setText(f"Training {state} in {result.seconds:.0f}s ({result.steps} steps). "
                            f"Saved to {result.path}.{calibrated}")
        rows = [(k.removeprefix("held_out_"), v) for k, v in result.metrics.items() if not k.endswith("threshold")]
        self.results.setRowCount(len(rows))
        for i, (k, v) in enumerate(rows):
            self.results.setItem(i, 0, QTableWidgetItem(k))
            self.results.setItem(i, 1, QTableWidgetItem(f"{float(v):.4f}"))

    def on_failed(self, message: str) -> None:
        collect_everything()
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.status.setText(f"<b>Training failed:</b> {message}")
        self.error.emit(message)

    def use_model(self) -> None:
        if self.result is not None:
            self.use_for_mining.emit(KINDS[self.kind.currentIndex()], self.result.path)
