"""Write tests/fixtures/project-schema<N>.sqlite: the sample, mined (sparse only), two labels.

    python scripts/make_project_fixture.py

Run once per schema version and keep the files: later versions must still open them.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from quoradesk.core import models  # noqa: E402
from quoradesk.core.mining import MiningJob  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.resources import SAMPLE_QUESTIONS  # noqa: E402
from quoradesk.core.store import SCHEMA_VERSION, Store  # noqa: E402

out = REPO / "tests" / "fixtures" / f"project-schema{SCHEMA_VERSION}.sqlite"
out.unlink(missing_ok=True)
with Store(out) as store:
    store.add_import(load_questions(SAMPLE_QUESTIONS))
    list(MiningJob(store, sparse_model=models.SHIPPED_SPARSE, reranker=None, device="cpu").run())
    store.set_label(1, 2, "accepted")
    store.set_label(3, 4, "rejected")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
print(out, out.stat().st_size)
