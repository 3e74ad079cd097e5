"""Start the desktop app: ``quoradesk`` with no arguments, or ``quoradesk gui [--sample]``."""

from __future__ import annotations

import sys
from pathlib import Path


def run(project: str | None = None, sample: bool = False) -> int:
    from PySide6.QtWidgets import QApplication

    from .main_window import APP, MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP)
    app.setOrganizationName(APP)
    window = MainWindow()
    window.show()
    if project:
        window.open_project(Path(project))
    elif sample:
        window.open_sample()
    return app.exec()
