"""IK benchmark on TRAC-IK's protocol: officina's solver, TRAC-IK and PyBullet on the same targets.

    officina bench ik [--robot panda] [--n 10000] [--json]
    .venv/bin/python benchmarks/bench_ik.py [same options]

Protocol (TRAC-IK's): q ~ U(joint limits) -> FK -> IK seeded at the mid-range, 5 ms per target.
A solution counts when it is within the joint limits and its position error is <= tol m and its
orientation error <= tol rad by norm, measured with the same Pinocchio FK for every solver, within
the budget; failures are counted at the time they took. The solvers take the targets in turn,
target by target, in one process, so they share the machine's load.

TRAC-IK (KDL inside) accepts a solution when each of the six components of its twist error is
within ``eps``; a per-component bound of ``tol`` admits errors up to sqrt(3) tol by norm. It gets
``eps = tol / sqrt(3)``, so that what it accepts passes the common norm check.
"""

from __future__ import annotations

import math
import time

import numpy as np

from officina.controllers.ik import pose_error, solve_ik
from officina.controllers.model import RobotModel, matrix_to_quat_xyzw
from officina.errors import BadInput
from officina.robots import load_robot

__all__ = ["run_ik_benchmark", "trac_ik_eps"]


def trac_ik_eps(tol: float) -> float:
    """TRAC-IK's per-component tolerance whose accepted solutions are within ``tol`` by norm."""
    return tol / math.sqrt(3.0)


def _stats(times_s: np.ndarray, success: np.ndarray) -> dict:
    t = np.asarray(times_s) * 1e3
    return {
        "success_rate": float(np.mean(success)) if len(success) else 0.0,
        "mean_ms": float(np.mean(t)),
        "median_ms": float(np.median(t)),
        "p99_ms": float(np.percentile(t, 99)),
    }


class _PyBulletIK:
    """PyBullet's calculateInverseKinematics on its own DIRECT client, restarted from random
    configurations until it meets the tolerances or the budget is spent. Its result is checked
    with the same Pinocchio FK as the others."""

    def __init__(self, m: RobotModel, tip_link: str):
        from officina.sim.bullet import pybullet as p

        self.p = p
        self.cid = p.connect(p.DIRECT)
        self.body = p.loadURDF(m.spec.urdf, useFixedBase=True, physicsClientId=self.cid)
        names = {}
        self.movable = []
        self.tip = -1
        for j in range(p.getNumJoints(self.body, physicsClientId=self.cid)):
            info = p.getJointInfo(self.body, j, physicsClientId=self.cid)
            if info[2] != p.JOINT_FIXED:
                self.movable.append(j)
                names[info[1].decode()] = j
            if info[12].decode() == tip_link:
                self.tip = j
        if self.tip < 0:
            raise BadInput(f"pybullet: link {tip_link!r} not found in {m.spec.urdf}")
        self.arm_idx = [names[n] for n in m.spec.joint_names]
        # IK solution entries are per movable joint, in joint-index order.
        self.arm_pos = [self.movable.index(j) for j in self.arm_idx]

    def solve_once(self, pos, quat_xyzw, seed_q) -> np.ndarray:
        """One calculateInverseKinematics call (damped least squares, up to 200 internal
        iterations) started from ``seed_q``; returns the arm joints."""
        p = self.p
        for jj, v in zip(self.arm_idx, seed_q):
            p.resetJointState(self.body, jj, float(v), physicsClientId=self.cid)
        sol = p.calculateInverseKinematics(
            self.body, self.tip, list(pos), list(quat_xyzw),
            maxNumIterations=200, residualThreshold=1e-7, physicsClientId=self.cid,
        )
        return np.asarray(sol, dtype=float)[self.arm_pos]

    def close(self) -> None:
        try:
            self.p.disconnect(physicsClientId=self.cid)
        except Exception:  # noqa: BLE001 - already gone
            pass


def _trac_ik(m: RobotModel, budget_s: float, eps: float):
    """A TRAC-IK solver (Speed mode) for base -> flange, or None when pytracik is not installed."""
    try:
        import pytracik
    except ImportError:
        return None
    with open(m.spec.urdf) as f:
        urdf = f.read()
    tr = pytracik.TRAC_IK(m.spec.base_link, m.spec.flange_frame, urdf, budget_s, eps, pytracik.SolveType.Speed)
    if pytracik.get_num_joints(tr) != m.nq:
        raise RuntimeError(f"TRAC-IK chain has {pytracik.get_num_joints(tr)} joints, expected {m.nq}")
    lim = m.limits
    pytracik.set_joint_limits(tr, lim.lower.tolist(), lim.upper.tolist())
    return tr


def run_ik_benchmark(
    robot: str = "panda",
    n: int = 10000,
    seed: int = 0,
    frame: str = "flange",
    budget_s: float = 0.005,
    tol: float = 1e-5,
    baselines: tuple[str, ...] = ("trac_ik", "pybullet"),
    progress=None,
) -> dict:
    """Run the protocol of the module docstring on ``n`` targets of ``robot`` (a name or a robot
    YAML path); ``progress(i, n)`` is called after each target. Returns the statistics per solver
    (success rate, mean/median/p99 ms) and officina's ratios over each baseline."""
    if frame not in ("flange", "tcp"):
        raise BadInput("--frame: expected flange or tcp")
    if n < 1:
        raise BadInput("--n must be at least 1")
    if not budget_s > 0:
        raise BadInput("the time budget must be positive")
    m = RobotModel.from_spec(load_robot(robot))
    rng = np.random.default_rng(seed)
    lim = m.limits
    mid = lim.mid()
    # The baselines solve for the flange link; a tcp target is mapped through the fixed flange_T_tcp.
    flange_T_frame = np.linalg.inv(m.frame_transform(mid, "flange")) @ m.frame_transform(mid, frame)
    frame_T_flange = np.linalg.inv(flange_T_frame)
    notes = {}
    eps = trac_ik_eps(tol)
    tr = None
    if "trac_ik" in baselines:
        tr = _trac_ik(m, budget_s, eps)
        if tr is None:
            notes["trac_ik"] = "pytracik not installed (pip install 'officina[bench]')"
        else:
            import pytracik
    pb = _PyBulletIK(m, m.spec.flange_frame) if "pybullet" in baselines else None
    names = ["officina"] + (["trac_ik"] if tr is not None else []) + (["pybullet"] if pb else [])
    times = {k: np.zeros(n) for k in names}
    succ = {k: np.zeros(n, dtype=bool) for k in names}
    self_reported = np.zeros(n, dtype=bool)
    accepted_outside = np.zeros(n, dtype=bool)
    iters = np.zeros(n)

    def ok(q, T_target):
        if q is None or not np.all(np.isfinite(q)) or not m.within_limits(q, 1e-9):
            return False
        ep, er = pose_error(m.frame_transform(q, frame), T_target)
        return ep <= tol and er <= tol

    try:
        for i in range(n):
            q_true = rng.uniform(lim.lower, lim.upper)
            T = m.frame_transform(q_true, frame)
            r = solve_ik(m, T, frame, mid, rng=np.random.default_rng([seed, i]), timeout_s=budget_s,
                         tol_position_m=tol, tol_orientation_rad=tol)
            times["officina"][i] = r.solve_time_s
            succ["officina"][i] = r.success and r.solve_time_s <= budget_s and ok(r.q, T)
            iters[i] = r.iterations
            Tf = T @ frame_T_flange
            qx, qy, qz, qw = matrix_to_quat_xyzw(Tf[:3, :3])
            px, py, pz = Tf[:3, 3]
            if tr is not None:
                t0 = time.perf_counter()
                res = pytracik.ik(tr, mid, px, py, pz, qx, qy, qz, qw)
                dt = time.perf_counter() - t0
                self_reported[i] = res[0] >= 0
                q = np.asarray(res[1:], dtype=float) if res[0] >= 0 else None
                within = ok(q, T)
                accepted_outside[i] = self_reported[i] and not within
                times["trac_ik"][i] = dt
                succ["trac_ik"][i] = dt <= budget_s + 1e-4 and within
            if pb is not None:
                prng = np.random.default_rng([seed, i, 1])
                t0 = time.perf_counter()
                seed_q = mid
                prev_e = np.inf
                while True:
                    # Chain calls from the previous solution while the error keeps halving;
                    # restart from a random configuration when it stalls.
                    q = pb.solve_once((px, py, pz), (qx, qy, qz, qw), seed_q)
                    good = ok(q, T)
                    if good or time.perf_counter() - t0 > budget_s:
                        break
                    ep, er = pose_error(m.frame_transform(q, frame), T)
                    if ep + er < 0.5 * prev_e and m.within_limits(q, 1e-9):
                        seed_q, prev_e = q, ep + er
                    else:
                        seed_q, prev_e = prng.uniform(lim.lower, lim.upper), np.inf
                dt = time.perf_counter() - t0
                times["pybullet"][i] = dt
                succ["pybullet"][i] = good and dt <= budget_s
            if progress is not None:
                progress(i + 1, n)
    finally:
        if pb is not None:
            pb.close()
    results = {k: _stats(times[k], succ[k]) for k in names}
    results["officina"]["mean_iterations"] = float(np.mean(iters))
    if "trac_ik" in results:
        results["trac_ik"]["self_reported_success_rate"] = float(np.mean(self_reported))
        # Solutions TRAC-IK accepted that fail the common check (should be none with its eps).
        results["trac_ik"]["accepted_outside_tolerance_rate"] = float(np.mean(accepted_outside))
    ratios = {}
    for k in names[1:]:
        ratios[k] = {
            "mean_time_ratio": results["officina"]["mean_ms"] / results[k]["mean_ms"],
            "median_time_ratio": results["officina"]["median_ms"] / results[k]["median_ms"],
            "success_rate_diff": results["officina"]["success_rate"] - results[k]["success_rate"],
        }
    return {
        "robot": m.spec.name,
        "frame": frame,
        "n": n,
        "seed": seed,
        "budget_ms": budget_s * 1e3,
        "tolerance": tol,
        "trac_ik_eps": eps,
        "protocol": "q ~ U(joint limits) -> FK -> IK seeded at the mid-range; success = pos err <= tol m and "
        "rot err <= tol rad by norm (Pinocchio FK) within the limits and the budget; failures counted at "
        "their time; TRAC-IK with eps = tol/sqrt(3) per twist component",
        "results": results,
        "ratios_officina_over": ratios,
        "notes": notes,
    }


if __name__ == "__main__":
    import sys

    from officina.cli import main

    main(["bench", "ik", *sys.argv[1:]])
