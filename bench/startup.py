"""Benchmark: seconds from process start to the first window, and the sample mined end to end.

    python bench/startup.py            # the source checkout, and the bundle if it is built
    python bench/startup.py --runs 5

Each start is a cold process with an empty home folder (a first run), offscreen. "First window"
is measured inside the app: from the process's creation time to the first pass of the event
loop after the window is shown (``quoradesk gui --startup-probe``). "Sample mined" runs
``quoradesk --self-test`` (import, encode, search, rerank, store the 233-question sample).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "dist" / "quoradesk" / "quoradesk"


def fresh_env() -> dict:
    home = tempfile.mkdtemp(prefix="qd-start-")
    env = dict(os.environ, HOME=home, XDG_DATA_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config",
               QT_QPA_PLATFORM="offscreen")
    return env


def first_window(cmd: list[str]) -> float:
    out = subprocess.run([*cmd, "gui", "--startup-probe"], env=fresh_env(), capture_output=True, text=True, timeout=120)
    m = re.search(r"first window after ([\d.]+) s", out.stdout)
    if not m:
        raise SystemExit(f"no startup figure from {cmd}: {out.stdout}{out.stderr}")
    return float(m.group(1))


def self_test(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run([*cmd, "--self-test"], env=fresh_env(), capture_output=True, text=True, timeout=900)
    secs = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"self-test failed: {out.stdout}{out.stderr}")
    mined = next(line for line in out.stdout.splitlines() if line.startswith("mined:"))
    return secs, mined


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    targets = [("source (python -m quoradesk)", [sys.executable, "-m", "quoradesk"])]
    if BUNDLE.is_file():
        targets.append(("bundle (dist/quoradesk/quoradesk)", [str(BUNDLE)]))
    print(f"{'what':<36} {'first window, s (median of ' + str(args.runs) + ')':>34} {'self-test, s':>13}")
    for name, cmd in targets:
        starts = [first_window(cmd) for _ in range(args.runs)]
        secs, mined = self_test(cmd)
        print(f"{name:<36} {statistics.median(starts):>34.2f} {secs:>13.1f}")
        print(f"    starts: {', '.join(f'{s:.2f}' for s in starts)}; {mined}")
    if BUNDLE.is_file():
        size = sum(f.stat().st_size for f in BUNDLE.parent.rglob("*") if f.is_file() and not f.is_symlink())
        print(f"bundle size: {size / 1e6:.0f} MB unpacked")


if __name__ == "__main__":
    main()
