"""The run loop against raw PyBullet stepping (officina.tasks.bench; also `officina bench sim`).

    python benchmarks/bench_sim.py [--robot panda] [--steps 5000] [--repeats 3] [--json]
"""

from __future__ import annotations

import os
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

    pp, p4, r = res["pick_place"], res["pick_place_4ms"], res["robot"]
    raw = res["raw_step_us"]
    load = f"load average {res['load_average']:.1f} on {os.cpu_count()} cores" if "load_average" in res else ""
    per = f"{res['steps']} periods x {res['repeats']}, fastest, thread CPU"
    return [
        row(f"control period, loop as run ({r})", "us", res["loop_step_us"], raw, baseline_name="raw PyBullet step",
            goals=[("ratio", "<=", 1.5)], note=per),
        row(f"control period, loop as run vs a hand-written loop ({r})", "us", res["loop_step_us"],
            res["hand_loop_step_us"], baseline_name="PyBullet read, command, step", note=per),
        row(f"control period, loop without the state log ({r})", "us", res["loop_without_state_log_step_us"], raw,
            baseline_name="raw PyBullet step", note=per),
        row(f"state log's cost in the loop ({r})", "us", res["loop_step_us"], res["loop_without_state_log_step_us"],
            baseline_name="loop without the log", goals=[("ratio", "<=", 1.05)],
            note="writer process; the goal is ours: the log stays off the loop's critical path"),
        row(f"control period, filter's full checks ({r})", "us", res["loop_full_checks_step_us"], raw,
            baseline_name="raw PyBullet step", note="fast path off"),
        row(f"control period, no filter, no log ({r})", "us", res["loop_without_safety_filter_step_us"], raw,
            baseline_name="raw PyBullet step"),
        row(f"pick-place real-time factor, CPU time ({r})", "x", pp["cpu_real_time_factor"],
            res["raw_real_time_factor"], baseline_name="raw PyBullet stepping of the same world",
            goals=[("value", ">=", 20.0)], better="higher",
            note=f"simulated time / the run process's CPU in the procedure; the state log writer and the plot "
                 f"process ran beside it ({pp['phases']['children_cpu_s']:.1f} s CPU)"),
        row(f"pick-place real-time factor at a 4 ms step, CPU time ({r})", "x", p4["cpu_real_time_factor"],
            pp["cpu_real_time_factor"], baseline_name="the same at the default 1 ms step",
            goals=[("value", ">=", 20.0)], better="higher",
            note=f"250 Hz control; cycle {p4['cycle_time_s']:.1f} s sim, success {p4['success']}"),
        row(f"pick-place real-time factor, wall clock ({r})", "x", pp["real_time_factor"],
            goals=[("value", ">=", 20.0)], better="higher",
            note=f"cycle {pp['cycle_time_s']:.1f} s sim, success {pp['success']}; {load}"),
        row(f"pick-place real-time factor, whole process ({r})", "x", pp["process_real_time_factor"],
            better="higher", note=f"simulated time / the process's wall time ({pp['process_wall_s']:.1f} s); {load}"),
        row(f"pick-place start-up and run folder share, CPU time ({r})", "%", 100 * pp["overhead_share_cpu"],
            note=f"all but the procedure, the writer's and the plot process's included, of "
                 f"{pp['process_tree_cpu_s']:.1f} s CPU; the goal is by the wall clock"),
        row(f"pick-place start-up and run folder share, wall clock ({r})", "%", 100 * pp["overhead_share"],
            goals=[("value", "<=", 20.0)], note=f"whole process {pp['process_wall_s']:.1f} s; {load}"),
    ]


if __name__ == "__main__":
    sys.exit(main())
