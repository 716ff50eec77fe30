"""Simulation loop benchmark; the code lives in officina/bench_sim.py so that
`officina bench sim` runs the same thing from an installed package.

    python benchmarks/bench_sim.py [--robot panda] [--steps 5000] [--repeats 3] [--json]
"""

import sys

from officina.bench_sim import main

if __name__ == "__main__":
    sys.exit(main())
