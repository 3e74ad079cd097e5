"""The PySide6 desktop app: renders quoradesk.core; no model or SQL logic lives here."""
