"""Collect Python garbage on the GUI thread only.

Python's cyclic garbage collector runs on whichever thread happens to trigger it. When that is
a worker thread (training: accelerate calls ``gc.collect()`` at the end of ``Trainer.train``)
and the garbage includes closed Qt widgets, their C++ destructors run on the worker thread
and can deadlock against the GUI thread (seen: a worker stuck in ``QObject::~QObject``
waiting for the GIL). So the app turns automatic collection off and collects from a timer
on the GUI thread, and every worker start collects first, so a worker finds no old garbage.

Usage::

    guard = MainThreadGarbageCollector(app)   # once, after the QApplication exists
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class MainThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None, interval_ms: int = 500):
        super().__init__(parent)
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(interval_ms)

    def collect(self) -> None:
        """What the automatic collector would do now, done here: the oldest generation whose
        allocation count passed its threshold (so a quiet app costs almost nothing)."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return

    def stop(self) -> None:
        self.timer.stop()
        gc.enable()
