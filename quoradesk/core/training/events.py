"""What training reports while it runs: a :class:`TrainEvent` for every logged loss and
every evaluation, through a transformers ``TrainerCallback`` that also honours a stop flag.

Multi-task SPLADE training (MNRL on duplicates beside distillation, say) alternates batches
of tasks whose losses differ tenfold; one "loss" series jumps between them. So the trainer
records each batch's loss under its dataset's name (:func:`task_loss_trainer`) and each
loss event carries the mean per task since the last one, ``values["task_losses"]``.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TrainEvent:
    kind: str  # "teacher" (distillation pairs scored) | "loss" | "eval" | "done"
    step: int
    epoch: float
    # {"loss": ..., "learning_rate": ..., "task_losses": {"mnrl": ..., "distil": ...}} (the
    # last with several tasks) or evaluator metrics
    values: dict


class TaskLosses:
    """Each training batch's loss under its task (dataset) name, averaged between two logs."""

    def __init__(self) -> None:
        self._sums: dict[str, object] = defaultdict(float)  # detached tensors: no sync per step
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, task: str, loss) -> None:
        self._sums[task] = self._sums[task] + loss.detach()
        self._counts[task] += 1

    def take(self) -> dict[str, float]:
        """The mean loss of each task since the last call."""
        means = {t: float(self._sums[t]) / n for t, n in self._counts.items()}
        self._sums.clear()
        self._counts.clear()
        return means


def task_loss_trainer(trainer_class: type, tasks: TaskLosses) -> type:
    """``trainer_class`` (a sentence-transformers trainer) recording every training batch's
    loss in ``tasks`` under the name of the dataset the batch came from."""

    class TaskLossTrainer(trainer_class):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            task = inputs.get("dataset_name")  # the base class pops it
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if task is not None and not return_outputs and model.training:
                tasks.add(str(task), loss)
            return loss

    return TaskLossTrainer


def _callback(on_event: Callable[[TrainEvent], None] | None, stop: threading.Event | None,
              tasks: TaskLosses | None = None):
    """The trainer callback that reports to ``on_event``; with ``tasks``, each loss event
    carries the per-task means as ``values["task_losses"]``."""
    from transformers import TrainerCallback

    class Reporter(TrainerCallback):
        """Forwards logs and evaluations; honours the stop flag after the current step."""

        stopped = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            if on_event is None or not logs:
                return
            eval_keys = {k: v for k, v in logs.items() if k.startswith("eval_")}
            if eval_keys:
                on_event(TrainEvent("eval", state.global_step, float(state.epoch or 0), eval_keys))
            elif "loss" in logs:
                values = dict(logs)
                if tasks is not None and (per_task := tasks.take()):
                    values["task_losses"] = per_task
                on_event(TrainEvent("loss", state.global_step, float(state.epoch or 0), values))

        def on_step_end(self, args, state, control, **kwargs):
            if stop is not None and stop.is_set():
                Reporter.stopped = True
                control.should_training_stop = True
                control.should_save = False
                control.should_evaluate = False
            return control

    return Reporter()


TASK_LABELS = {"loss": "loss", "mnrl": "MNRL (duplicates)", "cosent": "CoSENT (labelled pairs)",
               "distil": "distillation (teacher's order)"}


class LossHistory:
    """The loss curves a training view draws: one series per task (or the single "loss"),
    each with a smoothed trend, so two losses of different scales never share a line.

    Usage::

        history = LossHistory()
        history.add(event)                # every "loss" TrainEvent
        for name in history.series:       # "mnrl", "distil" (or "loss")
            steps, values = history.points(name)
            trend = history.trend(name)   # the same length as values
    """

    def __init__(self, smoothing: float = 0.8):
        self.smoothing = smoothing  # TensorBoard's: the weight of the past in the trend
        self.series: dict[str, list[tuple[int, float]]] = {}

    def add(self, event: TrainEvent) -> None:
        if event.kind != "loss":
            return
        per_task = event.values.get("task_losses") or {"loss": event.values.get("loss")}
        for name, value in per_task.items():
            if value is not None:
                self.series.setdefault(name, []).append((event.step, float(value)))

    def clear(self) -> None:
        self.series.clear()

    def points(self, name: str) -> tuple[list[int], list[float]]:
        pts = self.series.get(name, [])
        return [s for s, _ in pts], [v for _, v in pts]

    def trend(self, name: str) -> list[float]:
        """An exponential moving average, debiased at the start (as TensorBoard smooths)."""
        out, avg = [], 0.0
        for i, (_, v) in enumerate(self.series.get(name, []), start=1):
            avg = self.smoothing * avg + (1 - self.smoothing) * v
            out.append(avg / (1 - self.smoothing**i))
        return out

    @staticmethod
    def label(name: str) -> str:
        return TASK_LABELS.get(name, name)
