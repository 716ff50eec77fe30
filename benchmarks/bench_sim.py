"""The run loop against raw PyBullet stepping (officina.tasks.bench; also `officina bench sim`).

    python benchmarks/bench_sim.py [--robot panda] [--steps 5000] [--repeats 3] [--json]
"""

import sys

from officina.tasks.bench import main

if __name__ == "__main__":
    sys.exit(main())
