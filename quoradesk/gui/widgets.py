"""Small widgets shared by the tabs."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


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
