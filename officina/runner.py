"""`officina run`: build the cell in PyBullet, run a task's procedure, write the run folder.

Everything the user can get wrong is checked before the run folder is created (task, robot,
config keys and values, rates, URDF loading, scene); a run that crashes later keeps its
config.yaml and an error.txt, and never gets a metrics.json (written last, atomically).
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from officina import __version__
from officina.config import RunConfig, apply_overrides, format_validation_error, load_yaml
from officina.errors import BadInput, JobFailed
from officina.robots import load_robot
from officina.runs import new_run_dir, write_json_atomic, write_yaml_atomic

__all__ = ["resolve_config", "execute_run", "RunResult", "versions", "WALL_CLOCK_FIELDS"]

WALL_CLOCK_FIELDS = ("wall_time_s", "real_time_factor", "versions")


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]


def versions() -> dict[str, str]:
    import cv2
    import pinocchio
    import pybullet
    import ruckig

    return {
        "officina": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pybullet": str(pybullet.getAPIVersion()),
        "pinocchio": pinocchio.__version__,
        "ruckig": getattr(ruckig, "__version__", "unknown"),
        "opencv": cv2.__version__,
    }


def resolve_config(
    task: str | None,
    *,
    config_file: str | None = None,
    robot: str | None = None,
    seed: int | None = None,
    video: bool | None = None,
    gui: bool | None = None,
    realtime: bool | None = None,
    overrides: list[str] | None = None,
) -> RunConfig:
    """Defaults < config file < command-line flags < --set overrides; validated, task params resolved."""
    from officina.tasks import get_task

    data: dict[str, Any] = load_yaml(config_file) if config_file else {}
    if task is not None:
        data["task"] = task
    if "task" not in data:
        raise BadInput("no task given; expected `officina run TASK` or a config file with a 'task' key")
    if robot is not None:
        data["robot"] = robot
    if seed is not None:
        data["seed"] = seed
    if gui is not None and gui:
        data["gui"] = True
    if realtime is not None and realtime:
        data["realtime"] = True
    if video:
        data.setdefault("log", {})
        if not isinstance(data["log"], dict):
            raise BadInput("config key 'log': expected a mapping")
        data["log"]["video"] = True
    data = apply_overrides(data, overrides or [])
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise BadInput(format_validation_error(exc)) from None
    t = get_task(cfg.task)
    try:
        params = t.Params.model_validate(cfg.params)
    except ValidationError as exc:
        raise BadInput(format_validation_error(exc, prefix="params.")) from None
    robot_ref = cfg.robot
    if robot_ref.endswith((".yaml", ".yml")) and Path(robot_ref).is_file():
        robot_ref = str(Path(robot_ref).resolve())
    load_robot(robot_ref)  # unknown robot / bad robot file -> BadInput now
    return cfg.model_copy(update={"params": params.model_dump(mode="json"), "robot": robot_ref})


class _TapArm:
    """Delegates to an Arm and remembers the last position command (the reference)."""

    def __init__(self, arm) -> None:
        self._arm = arm
        self.q_ref = arm.read().position.copy()
        self.joint_names = arm.joint_names
        self.limits = arm.limits
        self.control_period = arm.control_period
        self.read = arm.read
        self.set_mode = arm.set_mode
        self.command_velocities = arm.command_velocities
        self.command_torques = arm.command_torques

    def command_positions(self, q, qd=None) -> None:
        self._arm.command_positions(q, qd)
        self.q_ref = q


def make_safe_arm(arm, model, cfg: RunConfig):
    """(SafeArm around ``arm``, its SafetyFilter) configured from ``cfg.safety`` - what `officina run`
    puts between a procedure and the arm. A bad safety section raises BadInput."""
    from officina.controllers.safety import SafeArm, SafetyConfig, SafetyFilter

    sc = cfg.safety
    try:
        safety = SafetyFilter(
            model.limits, cfg.sim.control_dt,
            SafetyConfig(action=sc.action, velocity_scale=sc.velocity_scale,
                         acceleration_scale=sc.acceleration_scale, watchdog_periods=sc.watchdog_periods,
                         workspace_min=sc.workspace_min, workspace_max=sc.workspace_max),
            tcp_position=lambda q: model.frame_transform(q, "tcp")[:3, 3],
            gravity=model.gravity,
        )
    except ValueError as exc:
        raise BadInput(f"config key 'safety': {exc}") from None
    return SafeArm(arm, safety), safety


class _Recorder:
    def __init__(self, world, arm: _TapArm, objects, cfg: RunConfig, expected_s: float = 120.0) -> None:
        self.world, self.arm, self.objects = world, arm, objects
        control_dt = cfg.sim.control_dt
        self.substeps = int(round(control_dt / cfg.sim.dt))
        self.log_every = max(1, int(round(1.0 / (cfg.log.joint_state_hz * control_dt))))
        self.pose_every = max(1, int(round(1.0 / (cfg.log.object_pose_hz * control_dt))))
        self.k = 0
        self.t: list[float] = []
        self.q: list[np.ndarray] = []
        self.qd: list[np.ndarray] = []
        self.eff: list[np.ndarray] = []
        self.qref: list[np.ndarray] = []
        self.err: list[float] = []
        self.max_err = 0.0
        self.pose_t: list[float] = []
        self.poses: list[np.ndarray] = []
        self.frame_hooks: list[tuple[int, Any]] = []
        self.pace = cfg.realtime or cfg.gui
        self.control_dt = control_dt
        self.wall0 = time.perf_counter()
        self.progress_cb = None

    def tick(self) -> None:
        w = self.world
        w.step(self.substeps)
        self.k += 1
        s = self.arm.read()
        e = float(np.max(np.abs(s.position - self.arm.q_ref)))
        if e > self.max_err:
            self.max_err = e
        k = self.k
        if k % self.log_every == 0:
            self.t.append(s.stamp)
            self.q.append(s.position)
            self.qd.append(s.velocity)
            self.eff.append(s.effort)
            self.qref.append(np.asarray(self.arm.q_ref, dtype=float).copy())
            self.err.append(e)
        if k % self.pose_every == 0 and self.objects:
            self.pose_t.append(w.time)
            self.poses.append(np.array([np.concatenate(w.object_pose(o.body_id)) for o in self.objects]))
        for every, hook in self.frame_hooks:
            if k % every == 0:
                hook()
        if self.pace:
            ahead = k * self.control_dt - (time.perf_counter() - self.wall0)
            if ahead > 0:
                time.sleep(ahead)
        if self.progress_cb is not None and k % 500 == 0:
            self.progress_cb(w.time)


def _plots(run_dir: Path, rec: _Recorder, joint_names, t_events) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(rec.t)
    q = np.asarray(rec.q)
    qref = np.asarray(rec.qref)
    err = np.asarray(rec.err)
    out = []
    fig, axes = plt.subplots(len(joint_names), 1, figsize=(9, 1.5 * len(joint_names) + 1), sharex=True)
    for i, ax in enumerate(np.atleast_1d(axes)):
        ax.plot(t, qref[:, i], color="0.6", lw=2.5, label="commanded")
        ax.plot(t, q[:, i], color="C0", lw=1.0, label="measured")
        ax.set_ylabel(f"{joint_names[i]}\n[rad]", fontsize=8)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel("sim time [s]")
    fig.suptitle("Joint positions")
    fig.tight_layout()
    fig.savefig(run_dir / "joint_positions.png", dpi=90)
    plt.close(fig)
    out.append("joint_positions.png")
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(t, np.rad2deg(err), color="C3", lw=1.0)
    ax.set_xlabel("sim time [s]")
    ax.set_ylabel("max |q_ref - q| [deg]")
    ax.set_title(f"Joint tracking error (max {np.rad2deg(rec.max_err):.3f} deg at the control rate)")
    for te, what in t_events:
        ax.axvline(te, color="0.8", lw=0.8, zorder=0)
        ax.text(te, ax.get_ylim()[1], what, rotation=90, fontsize=6, va="top", color="0.4")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "tracking_error.png", dpi=90)
    plt.close(fig)
    out.append("tracking_error.png")
    return out


def execute_run(cfg: RunConfig, out: str | Path | None = None, *, progress: bool = False,
                runs_root: str | Path = "runs") -> RunResult:
    """Run a resolved configuration. Raises BadInput before creating the folder, JobFailed after."""
    from officina.controllers.model import RobotModel
    from officina.sim.arm import SimArm, SimGripper, control_substeps
    from officina.sim.world import SimWorld
    from officina.tasks import Cell, get_task

    task = get_task(cfg.task)
    params = task.Params.model_validate(cfg.params)
    spec = load_robot(cfg.robot)
    try:
        control_substeps(cfg.sim.control_dt, cfg.sim.dt)
    except ValueError as exc:
        raise BadInput(f"config keys sim.control_dt/sim.dt: {exc}") from None
    rng = np.random.default_rng(cfg.seed)
    world = SimWorld(sim_dt=cfg.sim.dt, gravity=cfg.sim.gravity, gui=cfg.gui,
                     solver_iterations=cfg.sim.solver_iterations)
    try:
        try:
            handle = world.load_robot(spec)
            scene = task.build_scene(world, params, rng)
            world.restart_clock()
            camera = task.make_camera(world, params)
            model = RobotModel.from_spec(spec)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        run_dir = new_run_dir(cfg.task, out, runs_root)
        write_yaml_atomic(run_dir / "config.yaml", cfg.model_dump(mode="json"))
        try:
            return _run(cfg, run_dir, world, handle, scene, camera, model, task, params, rng, progress,
                        SimArm, SimGripper, Cell)
        except KeyboardInterrupt:
            (run_dir / "error.txt").write_text("interrupted by the user; no metrics were written\n")
            raise
        except Exception as exc:
            import traceback

            (run_dir / "error.txt").write_text(traceback.format_exc())
            raise JobFailed(f"{type(exc).__name__}: {exc} (see {run_dir / 'error.txt'})") from exc
    finally:
        world.close()


def _run(cfg, run_dir, world, handle, scene, camera, model, task, params, rng, progress,
         SimArm, SimGripper, Cell) -> RunResult:
    spec = handle.spec
    sim_arm = SimArm(world, handle, cfg.sim.control_dt)
    gripper = SimGripper(world, handle) if spec.gripper is not None else None
    # Every command of the procedure goes through the safety filter, as on a real arm.
    safe_arm, safety = make_safe_arm(sim_arm, model, cfg)
    arm = _TapArm(safe_arm)
    objects = getattr(scene, "objects", [])
    rec = _Recorder(world, arm, objects, cfg)
    video_frames: list[np.ndarray] = []
    if cfg.log.video:
        from officina.interfaces import CameraIntrinsics
        from officina.sim.camera import SimCamera, look_at

        vcam = SimCamera(world.client_id,
                         CameraIntrinsics.from_fov(cfg.log.video_width, cfg.log.video_height, 50.0),
                         look_at((1.35, -0.95, 0.95), (0.38, -0.02, 0.12)), near=0.05, far=5.0)
        every = max(1, int(round(1.0 / (cfg.log.video_fps * cfg.sim.control_dt))))
        rec.frame_hooks.append((every, lambda: video_frames.append(vcam.capture().rgb)))
    cell = Cell(arm=arm, gripper=gripper, camera=camera, model=model, tick=rec.tick, rng=rng)
    # Safety events go to the run folder (safety.log), counted in metrics.json, not to the console.
    import logging

    safety_log = logging.getLogger("officina.safety")
    handler = logging.FileHandler(run_dir / "safety.log", delay=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    safety_log.addHandler(handler)
    safety_log.propagate = False

    prog = None
    if progress:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        if console.is_terminal:
            prog = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("sim {task.fields[simt]:.1f} s"),
                            TimeElapsedColumn(), console=console, transient=True)
            tid = prog.add_task(f"{cfg.task} on {spec.name}", total=None, simt=0.0)
            rec.progress_cb = lambda t: prog.update(tid, simt=t)
            prog.start()
    wall0 = time.perf_counter()
    rec.wall0 = wall0
    try:
        outcome = task.procedure(cell, params)
    finally:
        if prog is not None:
            prog.stop()
        safety_log.removeHandler(handler)
        handler.close()
        safety_log.propagate = True
    wall = time.perf_counter() - wall0
    sim_time = world.time

    m = task.metrics(world, scene, params)
    # Max tcp speed from the logged states: |J_v(q) qd| at each sample.
    tcp_speed = 0.0
    for q, qd in zip(rec.q, rec.qd):
        v = model.jacobian(q, "tcp")[:3] @ qd
        tcp_speed = max(tcp_speed, float(np.linalg.norm(v)))
    metrics: dict[str, Any] = {
        "task": cfg.task,
        "success": bool(m.pop("success")),
        **m,
        "procedure_completed": outcome.completed,
        "procedure_message": outcome.message,
        "cycle_time_s": round(sim_time, 6),
        "max_joint_tracking_error_rad": rec.max_err,
        "max_tcp_speed_m_s": tcp_speed,
        "safety_events_total": safety.total_events,
        "safety_events": {k: v for k, v in safety.counts.items() if v},
        "sim_steps": world.steps,
        "wall_time_s": wall,
        "real_time_factor": sim_time / wall if wall > 0 else float("inf"),
        "seed": cfg.seed,
        "robot": spec.name,
        "versions": versions(),
    }
    from officina.statelog import write_state_log

    write_state_log(
        run_dir / "state.mcap", list(spec.joint_names), np.asarray(rec.t), np.asarray(rec.q),
        np.asarray(rec.qd), np.asarray(rec.eff), np.asarray(rec.pose_t),
        np.asarray(rec.poses) if rec.poses else np.zeros((0, 0, 7)),
    )
    if cfg.log.plots:
        _plots(run_dir, rec, spec.joint_names, [(e["t"], e["event"]) for e in cell.events if e["event"] in ("pick", "placed")])
    if cfg.log.video and video_frames:
        import imageio.v2 as imageio

        tmp = run_dir / "video.partial.mp4"
        with imageio.get_writer(tmp, fps=cfg.log.video_fps, codec="libx264", quality=7,
                                macro_block_size=1, ffmpeg_log_level="error") as wr:
            for fr in video_frames:
                wr.append_data(fr)
        tmp.replace(run_dir / "video.mp4")
    write_json_atomic(run_dir / "events.json", cell.events)
    write_json_atomic(run_dir / "metrics.json", metrics)  # last
    return RunResult(run_dir, metrics)
