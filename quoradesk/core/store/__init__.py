"""The project file: one SQLite file per project holding its questions, imports, mining runs,
encodings, pairs and labels, written in transactions so a crash leaves the last committed
state (WAL journal, a recorded schema version, migrated on open).

Offers :class:`Store` (open or create a project; everything reads and writes through it),
:class:`Run` (a mining run's record), :class:`Pair` (a mined pair with its texts and label),
:data:`LABELS`, :class:`ProjectError` (a file that is not ours, or is damaged) and
:func:`pending_upgrade` (whether opening a file will migrate it, without writing),
:func:`check_project` and :func:`repair_project` (a damaged file checked, and what is
readable recovered into a new one) and the label journal (``journal_path``, ``read_journal``).

Modules: ``project`` (the Store, its schema and migrations), ``pairs``, ``labels`` and
``encodings`` (the Store's parts by table), ``writes`` (the write decorator and its error),
``health`` (check and repair).
"""

from .health import HealthReport, RepairResult, check_project, repair_project
from .labels import LABELS, journal_path, read_journal
from .pairs import Pair
from .project import SCHEMA_VERSION, ImportInfo, Run, Store, file_sha256, pending_upgrade
from .writes import ProjectError

__all__ = ["HealthReport", "RepairResult", "check_project", "journal_path", "read_journal", "repair_project",
           "LABELS", "SCHEMA_VERSION", "ImportInfo", "Pair", "ProjectError", "Run", "Store",
           "file_sha256", "pending_upgrade"]
