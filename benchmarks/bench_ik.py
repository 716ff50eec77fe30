"""IK benchmark (TRAC-IK's protocol) against TRAC-IK and PyBullet on the same targets.

    .venv/bin/python benchmarks/bench_ik.py [--robot panda] [--n 10000] [--json]

Same as `officina bench ik`; the logic is `officina.cli_kin.run_ik_benchmark`.
"""

import sys

from officina.cli import main

if __name__ == "__main__":
    main(["bench", "ik", *sys.argv[1:]])
