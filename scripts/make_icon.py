"""Draw the application icon (resources/icons/quoradesk.png, 256 px) with QPainter.

    QT_QPA_PLATFORM=offscreen python scripts/make_icon.py

Two overlapping question bubbles on a blue tile: two questions that mean the same thing.
"""

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
)

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons" / "quoradesk.png"


def bubble(p: QPainter, rect: QRectF, fill: QColor, text_color: QColor, tail_left: bool) -> None:
    path = QPainterPath()
    path.addRoundedRect(rect, 26, 26)
    x = rect.left() + 30 if tail_left else rect.right() - 30
    tail = QPainterPath()
    tail.moveTo(QPointF(x - 12, rect.bottom() - 4))
    tail.lineTo(QPointF(x + (-16 if tail_left else 16), rect.bottom() + 26))
    tail.lineTo(QPointF(x + 14, rect.bottom() - 4))
    tail.closeSubpath()
    p.setPen(QPen(QColor("#0b3d91"), 5))
    p.setBrush(QBrush(fill))
    p.drawPath(path.united(tail))
    p.setPen(text_color)
    font = QFont("DejaVu Sans", 58, QFont.Weight.Bold)
    p.setFont(font)
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "?")


def main() -> None:
    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - fonts need it
    img = QImage(256, 256, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    grad = QLinearGradient(0, 0, 256, 256)
    grad.setColorAt(0, QColor("#3d8bfd"))
    grad.setColorAt(1, QColor("#0b3d91"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(grad))
    p.drawRoundedRect(QRectF(8, 8, 240, 240), 48, 48)
    bubble(p, QRectF(28, 40, 130, 100), QColor("#ffffff"), QColor("#0b3d91"), True)
    bubble(p, QRectF(98, 112, 130, 100), QColor("#ffd43b"), QColor("#0b3d91"), False)
    p.end()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    img.save(str(OUT))
    print(OUT)


if __name__ == "__main__":
    main()
