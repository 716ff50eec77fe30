"""The run loop against raw PyBullet stepping (officina.tasks.bench; also `officina bench sim`).

    python benchmarks/bench_sim.py [--robot panda] [--steps 5000] [--repeats 3] [--json]
"""

from __future__ import annotations

import sys

from officina.tasks.bench import main

__all__ = ["rows", "rows_from_result"]


def rows(slow: bool = False, robot: str = "panda", steps: int | None = None, repeats: int = 3,
         seed: int = 0) -> list:
    """`officina.tasks.bench.run` as `officina.benchmarks.Row` s (3000 control periods per
    measurement, 5000 with ``slow``)."""
    from officina.tasks.bench import run

    return rows_from_result(run(robot, steps or (5000 if slow else 3000), repeats, seed))


def rows_from_result(res: dict) -> list:
    from officina.benchmarks import row

    pp, r = res["pick_place"], res["robot"]
    raw = res["raw_step_us"]
    per = f"{res['steps']} periods x {res['repeats']}, fastest, thread CPU"
    return [
        row(f"control period, loop as run ({r})", "us", res["loop_step_us"], raw, baseline_name="raw PyBullet step",
            goals=[("ratio", "<=", 1.5)], note=per),
        row(f"control period, loop without the state log ({r})", "us", res["loop_without_state_log_step_us"], raw,
            baseline_name="raw PyBullet step", note=per),
        row(f"state log's cost in the loop ({r})", "us", res["loop_step_us"], res["loop_without_state_log_step_us"],
            baseline_name="loop without the log", goals=[("ratio", "<=", 1.05)],
            note="writer process; the goal is ours: the log stays off the loop's critical path"),
        row(f"control period, filter's full checks ({r})", "us", res["loop_full_checks_step_us"], raw,
            baseline_name="raw PyBullet step", note="fast path off"),
        row(f"control period, no filter, no log ({r})", "us", res["loop_without_safety_filter_step_us"], raw,
            baseline_name="raw PyBullet step"),
        row(f"pick-place real-time factor ({r})", "x", pp["real_time_factor"], goals=[("value", ">=", 20.0)],
            better="higher", note=f"cycle {pp['cycle_time_s']:.1f} s sim, success {pp['success']}; wall clock"),
        row(f"pick-place start-up and run folder share ({r})", "%", 100 * pp["overhead_share"],
            goals=[("value", "<=", 20.0)], note=f"whole process {pp['process_wall_s']:.1f} s"),
    ]


if __name__ == "__main__":
    sys.exit(main())
