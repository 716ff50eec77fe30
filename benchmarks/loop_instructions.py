"""Instructions per control period of the run loop, counted by valgrind's cachegrind.

Thread CPU time on a shared machine moves by several microseconds from run to run; instruction
counts do not. Each row runs the loop of `officina.tasks.bench` (raw stepping, the hand-written
PyBullet loop, or `bench_loop`'s modes) for 200 and for 1200 control periods in a fresh
interpreter under cachegrind and reports the difference over 1000 periods, so that start-up and
set-up cancel out. The hash seed is fixed and OpenBLAS kept to one thread (its idle threads spin
a varying number of instructions). Only the measuring process is counted (the state log's writer
process is not); PyBullet under valgrind runs other code paths than natively, so read the rows
against each other, not as time.

    python benchmarks/loop_instructions.py [--robot panda] [--modes raw,hand,bare,nolog,run]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

_LOOP = """
import sys
from officina.tasks import bench
robot, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if mode == "raw":
    bench.bench_raw(robot, n)
elif mode == "hand":
    bench.bench_hand(robot, n)
else:
    bench.bench_loop(robot, n, 0, mode)
"""


def count(robot: str, mode: str, periods: int, workdir: str) -> int:
    """Instructions of one run of the loop's process for ``periods`` control periods."""
    out = os.path.join(workdir, f"cg.{mode}.{periods}.out")
    # this interpreter's environment, as the venv's start-up made it (valgrind must not re-exec)
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
                    sys.executable, "-c", _LOOP, robot, str(periods), mode],
                   env=env, check=True, capture_output=True)
    with open(out) as f:
        return int(re.search(r"^summary:\s+(\d+)", f.read(), re.M).group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="panda")
    ap.add_argument("--modes", default="raw,hand,bare,nolog,run")
    a = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        for mode in a.modes.split(","):
            per = (count(a.robot, mode, 1200, d) - count(a.robot, mode, 200, d)) / 1000
            print(f"{a.robot} {mode:6s} {per / 1000:8.1f} k instructions per control period", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
