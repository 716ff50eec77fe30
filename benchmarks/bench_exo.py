"""Benchmark: vectorised static L5/S1 evaluation of many postures (design sweeps).

Measures postures per second of `officina.exoskeleton.model.static_l5s1_q` (full 6-joint postures,
load at the hands) on one core, against a naive per-posture Python loop over the same model
measured in the same run, and reports the ratio. The result is checked against the loop.

    .venv/bin/python benchmarks/bench_exo.py [--n 1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from officina.exoskeleton.model import G, human_model, static_l5s1_q


def naive_static(model, q, load):
    """One posture at a time, plain Python floats: the baseline."""
    L = model.links
    tr = q[0] - q[1] + q[2] + q[3]
    ua = -(tr - q[4])
    fa = -(tr - q[4] - q[5])
    s, c = math.sin(tr), math.cos(tr)
    x_sh = model.shoulder_above_l5s1 * s
    x_el = x_sh + model.upper_arm * math.sin(ua)
    x_grip = x_el + model.grip_below_elbow * math.sin(fa)
    m = G * (L["trunk"].mass * L["trunk"].com[2] * s
             + L["head"].mass * (model.cervicale_above_l5s1 + L["head"].com[2]) * s
             + L["upper_arms"].mass * (x_sh - L["upper_arms"].com[2] * math.sin(ua))
             + L["forearms_hands"].mass * (x_el - L["forearms_hands"].com[2] * math.sin(fa))
             + load * x_grip)
    w = G * (model.upper_body_mass + load)
    return m, max(m, 0.0) / model.muscle_moment_arm_m + w * c, w * s


def best_of(fn, repeat):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(n: int = 1_000_000, n_naive: int = 20_000, repeat: int = 3) -> dict:
    """Postures per second, vectorised and in the naive loop (the result checked against it)."""
    if n < 1000 or n_naive < 100:
        raise ValueError("--n must be >= 1000 and --n-naive >= 100")
    model = human_model(75, 1.75, "male")
    rng = np.random.default_rng(0)
    q = rng.uniform(-0.5, 1.8, size=(n, 6))
    load = rng.uniform(0, 25, size=n)

    t_vec = best_of(lambda: static_l5s1_q(model, q, load), repeat)
    qn, ln = q[:n_naive].tolist(), load[:n_naive].tolist()
    t_naive = best_of(lambda: [naive_static(model, a, b) for a, b in zip(qn, ln)], repeat)

    res = static_l5s1_q(model, q[:n_naive], load[:n_naive])
    ref = np.array([naive_static(model, a, b) for a, b in zip(qn, ln)])
    assert np.allclose(res.moment, ref[:, 0]) and np.allclose(res.compression, ref[:, 1])

    vec_rate = n / t_vec
    naive_rate = n_naive / t_naive
    return {
        "benchmark": "exo_static_l5s1",
        "postures": n,
        "vectorised_postures_per_s": vec_rate,
        "naive_loop_postures_per_s": naive_rate,
        "speedup_vs_naive": vec_rate / naive_rate,
        "goal_postures_per_s": 1_000_000,
        "meets_goal": vec_rate >= 1_000_000,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
    }


def rows(slow: bool = False) -> list:
    """The benchmark as `officina.benchmarks.Row` s (the same sizes either way: it takes seconds)."""
    from officina.benchmarks import row

    out = measure()
    return [row("static L5/S1, postures per second (vectorised vs a naive loop)", "M/s",
                out["vectorised_postures_per_s"] / 1e6, out["naive_loop_postures_per_s"] / 1e6,
                baseline_name="naive Python loop", goals=[("value", ">=", 1.0)], better="higher",
                note=f"{out['postures']} postures, one core")]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="postures in the vectorised batch")
    ap.add_argument("--n-naive", type=int, default=20_000, help="postures in the naive loop")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        out = measure(args.n, args.n_naive, args.repeat)
    except ValueError as exc:
        ap.error(str(exc))
    vec_rate, naive_rate = out["vectorised_postures_per_s"], out["naive_loop_postures_per_s"]
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"static L5/S1, {args.n} postures: {vec_rate / 1e6:.2f} M postures/s vectorised, "
              f"{naive_rate / 1e3:.0f} k postures/s naive loop -> x{out['speedup_vs_naive']:.0f} "
              f"(goal >= 1 M/s: {'met' if out['meets_goal'] else 'NOT met'})")
    return out


if __name__ == "__main__":
    main()
