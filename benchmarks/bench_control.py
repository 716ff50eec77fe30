"""Tracking benchmark: RMS/max joint and tcp error per robot and control law.

    .venv/bin/python benchmarks/bench_control.py [--robot R] [--law L] [--json]

Same as `officina bench control`; the logic is `officina.cli_kin.run_tracking_benchmark`.
"""

import sys

from officina.cli import main

if __name__ == "__main__":
    main(["bench", "control", *sys.argv[1:]])
