"""PyBullet's cost and the task's outcomes per physics variant, on pick-place over fixed seeds on
every robot (officina.tasks.bench_physics; also `officina bench physics`).

    python benchmarks/bench_physics.py [--robots panda,iiwa,ur5e] [--seeds 0-9]
        [--variants pybullet,default] [--repeats 1] [--json] [--verbose]
"""

import sys

from officina.tasks.bench_physics import main

if __name__ == "__main__":
    sys.exit(main())
