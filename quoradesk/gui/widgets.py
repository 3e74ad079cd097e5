"""Small widgets shared by the tabs."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core import models


class PathField(QWidget):
    """A path in a line edit with a "…" button that opens a folder or file dialog."""

    def __init__(self, text: str = "", *, folder: bool = True, caption: str = "Choose", file_filter: str = ""):
        super().__init__()
        self.edit = QLineEdit(text)
        self.folder, self.caption, self.file_filter = folder, caption, file_filter
        button = QPushButton("…")
        button.clicked.connect(self.browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(button)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's naming
        self.edit.setText(text)

    def browse(self) -> None:
        if self.folder:
            name = QFileDialog.getExistingDirectory(self, self.caption, self.text())
        else:
            name, _ = QFileDialog.getOpenFileName(self, self.caption, self.text(), self.file_filter)
        if name:
            self.setText(name)


class SparseModelPicker(QWidget):
    """The shipped SPLADE models by name (distilled, accurate, fast), or any folder.

    ``text()`` is what MiningJob and the CLI's --model take: a short name or a folder path;
    ``setText`` takes either (a shipped folder shows as its name)."""

    changed = Signal()
    OTHER = "Another model folder…"

    def __init__(self, value: str = ""):
        super().__init__()
        self.choice = QComboBox()
        for name in models.installed_sparse_models():
            self.choice.addItem(models.SPARSE_MODEL_LABELS[name], name)
        self.choice.addItem(self.OTHER, "")
        self.folder = PathField(caption="SPLADE model folder")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.choice)
        row.addWidget(self.folder, 1)
        self.setText(value)
        self.choice.currentIndexChanged.connect(self._choice_changed)
        self.folder.edit.textChanged.connect(lambda _: self.changed.emit())

    def text(self) -> str:
        name = self.choice.currentData()
        return name if name else self.folder.text().strip()

    def setText(self, value: str) -> None:  # noqa: N802 - Qt's naming
        value = str(value or "").strip()
        if value.lower() in models.SPARSE_MODELS:
            name = value.lower()
        else:  # a folder, shipped or not; empty: the default
            name = models.sparse_model_name(value or models.default_sparse_model_path())
        index = self.choice.findData(name) if name else -1
        if index < 0:  # another folder, or a shipped model not installed here
            index = self.choice.findData("")
            self.folder.setText(value if name is None else str(models.SPARSE_MODELS[name]))
        self.choice.setCurrentIndex(index)
        self._choice_changed()

    def _choice_changed(self, _index: int = -1) -> None:
        self.folder.setVisible(not self.choice.currentData())
        self.changed.emit()


class Collapsible(QWidget):
    """A titled section a click opens and closes (closed: only its title shows), for the
    settings a first run does not need. Its open state is kept in ``settings`` under ``key``."""

    def __init__(self, title: str, settings, key: str):
        super().__init__()
        self.settings, self.key = settings, key
        self.toggle = QToolButton(text=title, checkable=True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.body = QWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)
        self.toggle.toggled.connect(self.set_open)
        self.set_open(str(settings.value(key, False)).lower() in ("true", "1"))

    def set_open(self, open_: bool) -> None:
        self.toggle.blockSignals(True)
        self.toggle.setChecked(open_)
        self.toggle.blockSignals(False)
        self.toggle.setArrowType(Qt.DownArrow if open_ else Qt.RightArrow)
        self.body.setVisible(open_)
        self.settings.setValue(self.key, open_)

    @property
    def is_open(self) -> bool:
        return self.toggle.isChecked()
