"""Run core generators on a QThread and report through signals (napari's thread_worker).

Usage::

    worker = GeneratorWorker(lambda: job.run(), cancel=job.cancel)
    worker.progress.connect(on_event)      # each yielded value, on the UI thread
    worker.finished.connect(on_done)       # the generator's return value (or None)
    worker.failed.connect(show_error)      # the exception's message
    worker.start()
    worker.cancel()                        # asks the job to stop at its next batch

The generator is created and consumed on the worker thread, so the UI thread never waits on
a model; signals cross threads as queued connections.
"""

from __future__ import annotations

import gc
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal


def collect_everything() -> None:
    """A full collection on the GUI thread, the objects frozen by ``GeneratorWorker.start``
    included. Freezing keeps collections short, but an object frozen while alive and dropped
    later inside a reference cycle is never collected: a finished training's model, trainer and
    optimizer are such cycles (2.1 GB held after 15 trainings in bench/soak.py). About 0.3 s
    with the models loaded: called when a long job ends, not per worker."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class _Runner(QObject):
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, make_generator: Callable):
        super().__init__()
        self._make = make_generator

    def run(self) -> None:
        try:
            gen = self._make()
            result = None
            if hasattr(gen, "__next__"):
                while True:
                    try:
                        self.progress.emit(next(gen))
                    except StopIteration as stop:
                        result = stop.value
                        break
            else:
                result = gen
            self.finished.emit(result)
        except Exception as exc:  # reported to the user, never raised into Qt
            message = str(exc) or type(exc).__name__
            traceback.print_exc()
            self.failed.emit(message)
        finally:
            # The thread ends here, not when the UI thread gets round to _done: a window
            # closing waits on its workers' threads from the UI thread (closeEvent), where
            # a queued _done cannot run, so each wait ran out (30 s) and the thread was
            # destroyed still running.
            QThread.currentThread().quit()


class GeneratorWorker(QObject):
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, make_generator: Callable, cancel: Callable[[], None] | None = None, parent=None):
        super().__init__(parent)
        self._cancel = cancel
        self.thread = QThread()
        self._runner = _Runner(make_generator)
        self._runner.moveToThread(self.thread)
        self.thread.started.connect(self._runner.run)
        self._runner.progress.connect(self.progress)
        self._runner.finished.connect(self._done)
        self._runner.failed.connect(self._fail)
        self.running = False

    def start(self) -> None:
        # Garbage Qt objects must die here, on the GUI thread: a collection the worker runs
        # (accelerate calls gc.collect() after training) would run their C++ destructors on
        # the worker thread, which deadlocked against the GUI thread (QObject::~QObject
        # waiting for the GIL). Freezing what survives keeps later collections short.
        gc.collect()
        gc.freeze()
        self.running = True
        self.thread.start()

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel()

    def _done(self, result) -> None:
        self._stop_thread()
        self.finished.emit(result)

    def _fail(self, message: str) -> None:
        self._stop_thread()
        self.failed.emit(message)

    def _stop_thread(self) -> None:
        self.running = False
        self.thread.quit()
        self.thread.wait()

    def wait(self, ms: int = 60000) -> bool:
        return self.thread.wait(ms)
