"""`officina kin fk|ik` and `officina bench ik|control`.

The benchmark logic lives here as plain functions (``run_ik_benchmark``,
``run_tracking_benchmark``) so that ``benchmarks/bench_ik.py`` and
``benchmarks/bench_control.py`` can call them as scripts and the tests can call them directly.
"""

from __future__ import annotations

import json
import time

import numpy as np
import typer

from officina.cli import app, handle_errors
from officina.errors import BadInput

kin_app = typer.Typer(help="Kinematics of a robot model: forward and inverse kinematics.", no_args_is_help=True)
app.add_typer(kin_app, name="kin")
bench_app = typer.Typer(help="Benchmarks: ratios against baselines measured in the same run", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


# --- parsing helpers ------------------------------------------------------------------------------
def parse_floats(text: str, what: str, n: int | None = None) -> np.ndarray:
    """'1,2,3' -> array; raises BadInput with a one-line reason."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip() != ""]
    try:
        values = np.array([float(p) for p in parts], dtype=float)
    except ValueError:
        raise BadInput(f"{what}: expected comma-separated numbers, got {text!r}") from None
    if n is not None and len(values) != n:
        raise BadInput(f"{what}: expected {n} comma-separated numbers, got {len(values)}")
    if len(values) == 0:
        raise BadInput(f"{what}: expected comma-separated numbers, got nothing")
    if not np.all(np.isfinite(values)):
        raise BadInput(f"{what}: every value must be finite, got {text!r}")
    return values


def _model(robot: str):
    from officina.controllers.model import RobotModel
    from officina.robots import load_robot

    spec = load_robot(robot)
    return RobotModel.from_spec(spec)


def _check_frame(m, frame: str) -> None:
    try:
        m.frame_id(frame)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


# --- kin fk / ik ----------------------------------------------------------------------------------
@kin_app.command("fk")
@handle_errors
def kin_fk(
    robot: str = typer.Option(..., "--robot", help="Robot name (panda, iiwa, ur5e) or a robot YAML path."),
    q: str = typer.Option(..., "--q", help="Joint positions in rad, comma-separated, in the robot's joint order."),
    frame: str = typer.Option("flange", "--frame", help="flange, tcp or any link of the URDF."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Forward kinematics: pose of FRAME in the robot base frame (m, quaternion x,y,z,w)."""
    m = _model(robot)
    qv = parse_floats(q, "--q", m.nq)
    _check_frame(m, frame)
    pos, quat = m.fk(qv, frame)
    out = {"position": [float(v) for v in pos], "quaternion_xyzw": [float(v) for v in quat]}
    if as_json:
        typer.echo(json.dumps(out))
        return
    lim = m.limits
    warn = "" if m.within_limits(qv) else "   (warning: q is outside the joint limits)"
    typer.echo(f"{m.spec.name} {frame} in {m.spec.base_link}:{warn}")
    typer.echo("  position [m]        " + "  ".join(f"{v:+.6f}" for v in pos))
    typer.echo("  quaternion (xyzw)   " + "  ".join(f"{v:+.6f}" for v in quat))
    del lim


@kin_app.command("ik")
@handle_errors
def kin_ik(
    robot: str = typer.Option(..., "--robot", help="Robot name (panda, iiwa, ur5e) or a robot YAML path."),
    position: str = typer.Option(..., "--position", help="Target position x,y,z in m, base frame."),
    quaternion_xyzw: str = typer.Option(..., "--quaternion-xyzw", help="Target orientation x,y,z,w (normalised here)."),
    frame: str = typer.Option("tcp", "--frame", help="tcp or flange (or any link)."),
    seed_q: str | None = typer.Option(None, "--seed-q", help="Seed joint positions in rad (default: mid-range)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random restarts."),
    timeout_ms: float = typer.Option(50.0, "--timeout-ms", help="Wall-time budget in ms."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Inverse kinematics (6-D pose). Exit code 1 when the target is not reached."""
    from officina.controllers.ik import solve_ik
    from officina.controllers.model import pose_to_T

    m = _model(robot)
    p = parse_floats(position, "--position", 3)
    qt = parse_floats(quaternion_xyzw, "--quaternion-xyzw", 4)
    if np.linalg.norm(qt) < 1e-9:
        raise BadInput("--quaternion-xyzw: the quaternion must have a non-zero norm")
    sq = parse_floats(seed_q, "--seed-q", m.nq) if seed_q is not None else None
    if timeout_ms <= 0:
        raise BadInput("--timeout-ms must be positive")
    _check_frame(m, frame)
    T = pose_to_T(p, qt)
    r = solve_ik(m, T, frame, sq, rng=np.random.default_rng(seed), timeout_s=timeout_ms * 1e-3)
    out = {
        "success": bool(r.success),
        "q": [float(v) for v in r.q],
        "position_error_m": float(r.position_error_m),
        "orientation_error_rad": float(r.orientation_error_rad),
        "solve_ms": float(r.solve_time_s * 1e3),
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        state = "solved" if r.success else "NOT reached"
        typer.echo(f"{m.spec.name} {frame}: {state} in {out['solve_ms']:.3f} ms ({r.iterations} iterations, {r.restarts} restarts)")
        typer.echo("  q [rad]             " + "  ".join(f"{v:+.6f}" for v in r.q))
        typer.echo(f"  position error      {r.position_error_m:.3e} m")
        typer.echo(f"  orientation error   {r.orientation_error_rad:.3e} rad")
    if not r.success:
        if not as_json:
            typer.echo("officina: target not reached (unreachable or outside the joint limits)", err=True)
        raise typer.Exit(1)


class _CStdoutToStderr:
    """Route C-level writes to fd 1 (PyBullet's build banner, KDL warnings) to stderr, so that
    ``--json`` stdout stays one JSON document."""

    def __enter__(self):
        import os
        import sys

        try:
            sys.stdout.flush()
            self._saved = os.dup(1)
            os.dup2(2, 1)
        except (OSError, ValueError, AttributeError):
            self._saved = None
        return self

    def __exit__(self, *exc):
        import os

        if self._saved is not None:
            os.dup2(self._saved, 1)
            os.close(self._saved)


# --- IK benchmark ---------------------------------------------------------------------------------
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
    configurations (the same protocol as the other two) until it meets the tolerances or the
    budget is spent. Its result is checked with the same Pinocchio FK as the others."""

    def __init__(self, m, tip_link: str):
        import pybullet as p

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
        lo, hi = [], []
        for j in self.movable:
            info = p.getJointInfo(self.body, j, physicsClientId=self.cid)
            lo.append(info[8])
            hi.append(info[9])
        self.lo, self.hi = np.array(lo), np.array(hi)
        for i, j in enumerate(self.arm_idx):
            self.lo[self.arm_pos[i]] = m.limits.lower[i]
            self.hi[self.arm_pos[i]] = m.limits.upper[i]
        self.range = (self.hi - self.lo).tolist()

    def solve_once(self, pos, quat_xyzw, seed_q):
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
    """TRAC-IK's protocol: q ~ U(limits) -> FK -> IK seeded at mid-range; success = position error
    <= tol m and orientation error <= tol rad (measured with Pinocchio FK, within the joint limits)
    inside ``budget_s``; failures are counted at the time they took. Our solver, TRAC-IK and
    PyBullet solve the very same targets in the same process, interleaved target by target."""
    from officina.controllers.ik import pose_error, solve_ik

    m = _model(robot)
    if frame not in ("flange", "tcp"):
        raise BadInput("--frame: expected flange or tcp")
    rng = np.random.default_rng(seed)
    lim = m.limits
    mid = lim.mid()
    # Baselines solve for the flange link; a tcp target is mapped through the fixed flange_T_tcp.
    flange_T_frame = np.linalg.inv(m.frame_transform(mid, "flange")) @ m.frame_transform(mid, frame)
    frame_T_flange = np.linalg.inv(flange_T_frame)
    solvers = {}
    notes = {}
    if "trac_ik" in baselines:
        try:
            import pytracik

            with open(m.spec.urdf) as f:
                urdf = f.read()
            tr = pytracik.TRAC_IK(m.spec.base_link, m.spec.flange_frame, urdf, budget_s, tol, pytracik.SolveType.Speed)
            if pytracik.get_num_joints(tr) != m.nq:
                raise RuntimeError(f"TRAC-IK chain has {pytracik.get_num_joints(tr)} joints, expected {m.nq}")
            pytracik.set_joint_limits(tr, lim.lower.tolist(), lim.upper.tolist())
            solvers["trac_ik"] = tr
        except ImportError:
            notes["trac_ik"] = "pytracik not installed (pip install 'officina[bench]')"
    pb = None
    if "pybullet" in baselines:
        pb = _PyBulletIK(m, m.spec.flange_frame)
    names = ["officina"] + (["trac_ik"] if "trac_ik" in solvers else []) + (["pybullet"] if pb else [])
    times = {k: np.zeros(n) for k in names}
    succ = {k: np.zeros(n, dtype=bool) for k in names}
    self_reported = np.zeros(n, dtype=bool)
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
            # ours
            r = solve_ik(m, T, frame, mid, rng=np.random.default_rng([seed, i]), timeout_s=budget_s,
                         tol_position_m=tol, tol_orientation_rad=tol)
            times["officina"][i] = r.solve_time_s
            succ["officina"][i] = r.success and r.solve_time_s <= budget_s and ok(r.q, T)
            iters[i] = r.iterations
            Tf = T @ frame_T_flange
            from officina.controllers.model import matrix_to_quat_xyzw

            qx, qy, qz, qw = matrix_to_quat_xyzw(Tf[:3, :3])
            px, py, pz = Tf[:3, 3]
            if "trac_ik" in solvers:
                t0 = time.perf_counter()
                res = pytracik.ik(solvers["trac_ik"], mid, px, py, pz, qx, qy, qz, qw)
                dt = time.perf_counter() - t0
                self_reported[i] = res[0] >= 0
                q = np.asarray(res[1:], dtype=float) if res[0] >= 0 else None
                times["trac_ik"][i] = dt
                succ["trac_ik"][i] = dt <= budget_s * 1.0 + 1e-4 and ok(q, T)
            if pb is not None:
                prng = np.random.default_rng([seed, i, 1])
                t0 = time.perf_counter()
                seed_q = mid
                good = False
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
        "protocol": "q ~ U(joint limits) -> FK -> IK seeded at the mid-range; success = pos err <= tol m and "
        "rot err <= tol rad (Pinocchio FK) within the limits and the budget; failures counted at their time",
        "results": results,
        "ratios_officina_over": ratios,
        "notes": notes,
    }


@bench_app.command("ik")
@handle_errors
def bench_ik(
    robot: str = typer.Option("panda", "--robot", help="Robot name or YAML path."),
    n: int = typer.Option(10000, "--n", help="Number of random targets."),
    seed: int = typer.Option(0, "--seed"),
    frame: str = typer.Option("flange", "--frame", help="flange or tcp."),
    budget_ms: float = typer.Option(5.0, "--budget-ms", help="Time budget per target (TRAC-IK protocol: 5 ms)."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Measure only officina's solver."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """IK benchmark against TRAC-IK and PyBullet on the same targets (TRAC-IK's protocol)."""
    if n < 1:
        raise BadInput("--n must be at least 1")
    if budget_ms <= 0:
        raise BadInput("--budget-ms must be positive")
    with _CStdoutToStderr():
        out = run_ik_benchmark(robot, n, seed, frame, budget_ms * 1e-3, baselines=() if no_baselines else ("trac_ik", "pybullet"))
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"IK benchmark: {out['robot']} {out['frame']}, {n} targets, budget {budget_ms:g} ms, tol {out['tolerance']:g}")
    typer.echo(f"  {'solver':10s} {'success':>9s} {'mean ms':>9s} {'median ms':>10s} {'p99 ms':>9s}")
    for k, r in out["results"].items():
        typer.echo(f"  {k:10s} {100 * r['success_rate']:8.2f}% {r['mean_ms']:9.4f} {r['median_ms']:10.4f} {r['p99_ms']:9.4f}")
    for k, r in out["ratios_officina_over"].items():
        typer.echo(f"  officina / {k}: mean time x{r['mean_time_ratio']:.3f}, median x{r['median_time_ratio']:.3f}, "
                   f"success {100 * r['success_rate_diff']:+.2f} points")
    if "trac_ik" in out["results"]:
        typer.echo(f"  (TRAC-IK self-reported success: {100 * out['results']['trac_ik']['self_reported_success_rate']:.2f}%)")
    for k, v in out["notes"].items():
        typer.echo(f"  note: {k}: {v}")


# --- tracking benchmark ---------------------------------------------------------------------------
#: Offsets (rad) of the standard tracking trajectory from the home pose, per joint (the first
#: n entries are used); every joint moves, out and back, at half the velocity/acceleration limits.
STANDARD_OFFSETS = np.array([0.5, 0.35, -0.4, 0.45, 0.5, -0.45, 0.6])


def standard_trajectory(m, dt: float, velocity_scale: float = 0.5):
    """home -> home + offsets (clipped 0.1 rad inside the limits) -> home, Ruckig, sampled at dt."""
    from officina.controllers.trajectory import plan_waypoints

    lim = m.limits
    home = np.asarray(m.spec.home, dtype=float)
    target = np.clip(home + STANDARD_OFFSETS[: m.nq], lim.lower + 0.1, lim.upper - 0.1)
    return plan_waypoints([home, target, home], lim, dt, velocity_scale=velocity_scale, acceleration_scale=velocity_scale)


def run_tracking(robot: str, law_name: str, *, dt: float = 0.001, velocity_scale: float = 0.5,
                 law_kwargs: dict | None = None, traj=None, safety: bool = False, settle_s: float = 0.0) -> dict:
    """Track the standard trajectory (or ``traj``) with one control law on a SimArm in torque mode
    at 1/dt; returns RMS/max joint and tcp errors, peak |tau|/effort and |qd|/velocity ratios."""
    from officina.controllers.laws import (
        LAWS,
        JointReference,
        LawStatus,
        cartesian_reference_from_joint,
    )
    from officina.controllers.model import RobotModel
    from officina.interfaces import ControlMode
    from officina.robots import load_robot
    from officina.sim.arm import SimArm
    from officina.sim.world import SimWorld

    if law_name not in LAWS:
        raise BadInput(f"unknown control law {law_name!r}; expected one of {', '.join(LAWS)}")
    spec = load_robot(robot)
    m = RobotModel.from_spec(spec)
    cls, kind = LAWS[law_name]
    law = cls(m, dt, **(law_kwargs or {}))
    tr = standard_trajectory(m, dt, velocity_scale) if traj is None else traj
    with SimWorld(sim_dt=min(dt, 0.001)) as world:
        handle = world.load_robot(spec)
        arm = SimArm(world, handle, control_dt=dt)
        arm.reset(tr.q[0])
        if safety:
            from officina.controllers.safe_arm import SafeArm
            from officina.controllers.safety import SafetyConfig, SafetyFilter

            arm = SafeArm(arm, SafetyFilter(spec.limits, dt, SafetyConfig()))
        arm.set_mode(ControlMode.TORQUE)
        n_steps = len(tr) + round(settle_s / dt)
        qerr = np.zeros((n_steps, m.nq))
        perr = np.zeros(n_steps)
        rerr = np.zeros(n_steps)
        tau_ratio = 0.0
        vel_ratio = 0.0
        saturated = 0
        for k in range(n_steps):
            i = min(k, len(tr) - 1)
            q_r = tr.q[i]
            qd_r = tr.qd[i] if k < len(tr) else np.zeros(m.nq)
            qdd_r = tr.qdd[i] if k < len(tr) else np.zeros(m.nq)
            st = arm.read()
            if kind == "joint":
                ref = JointReference(q_r, qd_r, qdd_r)
            else:
                ref = cartesian_reference_from_joint(m, q_r, qd_r, qdd_r, q_posture=q_r)
            tau, status = law.step(st, ref)
            saturated += status == LawStatus.SATURATED
            tau_ratio = max(tau_ratio, float(np.max(np.abs(tau) / spec.limits.effort)))
            vel_ratio = max(vel_ratio, float(np.max(np.abs(st.velocity) / spec.limits.velocity)))
            arm.command_torques(tau)
            world.step(arm.substeps if hasattr(arm, "substeps") else round(dt / world.sim_dt))
            # Errors are those of the state reached one period after the command, against the
            # reference of the next sample (the same as the controller sees on the next tick).
            st2 = arm.read()
            j = min(k + 1, len(tr) - 1)
            qerr[k] = st2.position - tr.q[j]
            T = m.frame_transform(st2.position, "tcp")
            Tr = m.frame_transform(tr.q[j], "tcp")
            perr[k] = np.linalg.norm(T[:3, 3] - Tr[:3, 3])
            from officina.controllers.ik import pose_error

            rerr[k] = pose_error(T, Tr)[1]
    qn = np.abs(qerr)
    return {
        "robot": spec.name,
        "law": law_name,
        "rate_hz": 1.0 / dt,
        "duration_s": float(n_steps * dt),
        "joint_rms_rad": float(np.sqrt(np.mean(qerr**2))),
        "joint_max_rad": float(qn.max()),
        "tcp_rms_m": float(np.sqrt(np.mean(perr**2))),
        "tcp_max_m": float(perr.max()),
        "tcp_rot_rms_rad": float(np.sqrt(np.mean(rerr**2))),
        "tcp_rot_max_rad": float(rerr.max()),
        "peak_torque_ratio": tau_ratio,
        "peak_velocity_ratio": vel_ratio,
        "saturated_ticks": int(saturated),
    }


def run_tracking_benchmark(robots: list[str], laws: list[str]) -> dict:
    from officina.controllers.laws import LAWS

    for law in laws:
        if law not in LAWS:
            raise BadInput(f"unknown control law {law!r}; expected one of {', '.join(LAWS)}")
    rows = []
    for r in robots:
        for law in laws:
            t0 = time.perf_counter()
            row = run_tracking(r, law)
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)
    return {
        "trajectory": "home -> home + offsets -> home (Ruckig, 0.5 x velocity/acceleration limits), 1 kHz torque "
        "control on SimArm; errors of the state one period after each command",
        "results": rows,
    }


@bench_app.command("control")
@handle_errors
def bench_control(
    robot: str | None = typer.Option(None, "--robot", help="Robot (default: panda, iiwa, ur5e)."),
    law: str | None = typer.Option(None, "--law", help="joint_pd, computed_torque, cartesian_impedance, osc (default: all)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Tracking benchmark: RMS/max joint and tcp error per robot and control law on the standard trajectory."""
    from officina.controllers.laws import LAWS

    robots = [robot] if robot else ["panda", "iiwa", "ur5e"]
    laws = [law] if law else list(LAWS)
    with _CStdoutToStderr():
        out = run_tracking_benchmark(robots, laws)
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"{'robot':7s} {'law':20s} {'joint rms':>10s} {'joint max':>10s} {'tcp rms':>9s} {'tcp max':>9s} "
               f"{'rot max':>8s} {'tau/eff':>7s}")
    for r in out["results"]:
        typer.echo(f"{r['robot']:7s} {r['law']:20s} {r['joint_rms_rad']:10.2e} {r['joint_max_rad']:10.2e} "
                   f"{r['tcp_rms_m'] * 1e3:7.3f}mm {r['tcp_max_m'] * 1e3:7.3f}mm {r['tcp_rot_max_rad']:8.1e} "
                   f"{r['peak_torque_ratio']:7.2f}")
