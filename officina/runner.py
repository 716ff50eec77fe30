"""`officina run`: resolve a configuration, hand it to the run loop, write the run folder.

Everything the user can get wrong is checked before the run folder is created (task, robot,
config keys and values, rates, URDF loading, scene); a run that crashes later keeps its
config.yaml and an error.txt, and never gets a metrics.json (written last, atomically).
The loop itself is `officina.tasks.runtime`; this module is the run folder around it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from officina import __version__
from officina.config import RunConfig, apply_overrides, format_validation_error, load_yaml
from officina.errors import BadInput, JobFailed
from officina.robots import load_robot
from officina.runs import new_run_dir, write_json_atomic, write_yaml_atomic

__all__ = ["resolve_config", "task_params", "safety_config", "execute_run", "RunResult", "RunStopped",
           "versions", "warm_up", "WALL_CLOCK_FIELDS"]

WALL_CLOCK_FIELDS = ("wall_time_s", "real_time_factor", "versions")


class RunStopped(KeyboardInterrupt):
    """The run was stopped by a signal (SIGTERM: what SLURM, Dask and systemd send to stop or
    preempt work), handled like Ctrl-C: the run folder keeps its state log and an error.txt."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


@contextlib.contextmanager
def _stop_on_sigterm():
    """While a run goes, SIGTERM raises `RunStopped` in the main thread (where Python delivers
    signals); elsewhere (a Dask worker thread) the process's own handling stays."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise RunStopped(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]


def versions() -> dict[str, str]:
    import cv2
    import pinocchio
    from officina.sim.bullet import pybullet
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
    """Defaults < config file < command-line flags < --set overrides; validated, task params resolved.

    This is the one path from what a user typed to a run's configuration, for `officina run`,
    `sweep` and every ROS 2 node that runs or builds a task: ``--set KEY=VALUE`` takes a dotted
    key of the run configuration everywhere (task parameters are ``params.NAME``), and a bad key
    or value raises BadInput with one line.
    """
    from officina.tasks import canonical_task_ref, get_task

    data: dict[str, Any] = load_yaml(config_file) if config_file else {}
    if "fingerprint" in data and "runs" in data:
        raise BadInput(f"config file {config_file} is a sweep's plan (sweep.yaml); expected a run's config.yaml, "
                       f"or `officina sweep --resume {Path(config_file).parent}` to go on with the sweep")
    if "cycle_time_s" in data and "success" in data:
        raise BadInput(f"config file {config_file} is a run's metrics; expected the config.yaml beside it")
    file_task = data.get("task")
    if task is not None:
        data["task"] = task
    if "task" not in data:
        raise BadInput("no task given; expected `officina run TASK` or a config file with a 'task' key")
    if robot is not None:
        data["robot"] = robot
    if seed is not None:
        data["seed"] = seed
    if gui:
        data["gui"] = True
    if realtime:
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
    if cfg.gui and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                             or os.environ.get("WAYLAND_DISPLAY")):
        # PyBullet's GUI would print its X11 start-up and exit the process with status 1
        raise BadInput("--gui needs a display, and DISPLAY is not set; expected a desktop session "
                       "(or ssh -X), or run headless without --gui (--video records one)")
    t = get_task(cfg.task)
    try:
        params = t.Params.model_validate(cfg.params)
    except ValidationError as exc:
        msg = format_validation_error(exc, prefix="params.")
        if task is not None and isinstance(file_task, str) and _other_task(file_task, cfg.task):
            msg += (f"; the config file {config_file} holds the parameters of task {file_task!r}, not {task!r} "
                    "(drop TASK to rerun the file's task)")
        raise BadInput(msg) from None
    robot_ref = cfg.robot
    if robot_ref.endswith((".yaml", ".yml")) and Path(robot_ref).is_file():
        robot_ref = str(Path(robot_ref).resolve())
    spec = load_robot(robot_ref)  # unknown robot / bad robot file -> BadInput now
    from officina.tasks.base import check_task_gripper

    try:  # a robot whose gripper cannot do the task: refused here, not in a sweep's worker
        check_task_gripper(t, spec, params)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    safety_config(cfg)  # a bad safety section -> BadInput now
    return cfg.model_copy(update={"params": params.model_dump(mode="json"), "robot": robot_ref,
                                  "task": canonical_task_ref(cfg.task)})


def _other_task(a: str, b: str) -> bool:
    """Whether task references ``a`` and ``b`` name different tasks."""
    from officina.tasks import canonical_task_ref

    return canonical_task_ref(a) != canonical_task_ref(b)


def task_params(cfg: RunConfig) -> BaseModel:
    """The task's parameter model of a resolved configuration."""
    from officina.tasks import get_task

    return get_task(cfg.task).Params.model_validate(cfg.params)


def safety_config(cfg: RunConfig):
    """The safety filter's configuration from ``cfg.safety`` (BadInput with one line if invalid)."""
    from officina.controllers.safety import SafetyConfig

    sc = cfg.safety
    try:
        return SafetyConfig(action=sc.action, velocity_scale=sc.velocity_scale,
                            acceleration_scale=sc.acceleration_scale, watchdog_periods=sc.watchdog_periods,
                            workspace_min=sc.workspace_min, workspace_max=sc.workspace_max)
    except ValueError as exc:
        raise BadInput(f"config key 'safety': {exc}") from None


class _SafetyLog:
    """Writes the safety filter's events to ``safety.log`` in the run folder (created on the first)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._f = None

    def __call__(self, record) -> None:
        if self._f is None:
            self._f = open(self._path, "a")
        self._f.write(f"{record}\n")

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


def _progress_observer(cfg: RunConfig, robot_name: str):
    """A rich progress line on a terminal (stderr); None elsewhere."""
    from officina.cli import rich_console

    console = rich_console(stderr=True)
    if not console.is_terminal:
        return None, None
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from officina.tasks.runtime import ProgressReporter

    prog = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                    TextColumn("sim {task.fields[simt]:.1f} s"), TimeElapsedColumn(), console=console,
                    transient=True)
    tid = prog.add_task(f"{cfg.task} on {robot_name}", total=None, simt=0.0)
    return ProgressReporter(lambda t: prog.update(tid, simt=t)), prog


def warm_up() -> None:
    """Import and load what a process's first run otherwise pays for as it goes (the simulation,
    the run loop, the plots' matplotlib, the state log's serializers and the robot models'
    Pinocchio: about 0.5 s of CPU), for a process that runs many runs: a sweep's worker does it
    when it starts."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import pinocchio  # noqa: F401

    import officina.controllers.safe_arm  # noqa: F401
    import officina.plots  # noqa: F401
    import officina.sim.world  # noqa: F401
    import officina.tasks.runtime  # noqa: F401
    from officina.statelog import warm_up as warm_up_state_log

    warm_up_state_log()


def execute_run(cfg: RunConfig, out: str | Path | None = None, *, progress: bool = False,
                runs_root: str | Path = "runs", background_plots: bool = False) -> RunResult:
    """Run a resolved configuration. Raises BadInput before creating the folder, JobFailed after.

    ``background_plots``: draw the standard plots in a `officina.plots.PlotProcess` started with
    the run (for a process that runs one run and exits, as `officina run`); otherwise in this
    process, which keeps matplotlib loaded for the next run."""
    from officina.sim.arm import control_substeps
    from officina.tasks import get_task
    from officina.tasks.runtime import build_sim_cell

    task = get_task(cfg.task)
    params = task_params(cfg)
    spec = load_robot(cfg.robot)
    safety = safety_config(cfg)
    try:
        control_substeps(cfg.sim.control_dt, cfg.sim.dt)
    except ValueError as exc:
        raise BadInput(f"config keys sim.control_dt/sim.dt: {exc}") from None
    try:
        sim = build_sim_cell(task, params, spec, rng=np.random.default_rng(cfg.seed), control_dt=cfg.sim.control_dt,
                             sim_dt=cfg.sim.dt, gravity=cfg.sim.gravity,
                             solver_iterations=cfg.sim.solver_iterations, gui=cfg.gui)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    try:
        run_dir = new_run_dir(task.name, out, runs_root)
        write_yaml_atomic(run_dir / "config.yaml", cfg.model_dump(mode="json"))
        try:
            with _stop_on_sigterm():
                return _run(cfg, run_dir, sim, safety, progress, background_plots)
        except RunStopped as exc:
            (run_dir / "error.txt").write_text(f"{exc}; no metrics were written, the state log keeps the "
                                               "run up to the stop\n")
            raise
        except KeyboardInterrupt:
            (run_dir / "error.txt").write_text("interrupted by the user; no metrics were written, the state "
                                               "log keeps the run up to the stop\n")
            raise
        except Exception as exc:
            import traceback

            (run_dir / "error.txt").write_text(traceback.format_exc())
            raise JobFailed(f"{type(exc).__name__}: {exc} (see {run_dir / 'error.txt'})") from exc
    finally:
        sim.close()


def _run(cfg: RunConfig, run_dir: Path, sim, safety, progress: bool, background_plots: bool) -> RunResult:
    from officina.tasks.runtime import FrameGrabber, Pacer

    task = sim.task
    observers: list = []
    if cfg.realtime or cfg.gui:
        observers.append(Pacer(cfg.sim.control_dt))
    prog = None
    if progress:
        reporter, prog = _progress_observer(cfg, sim.robot.spec.name)
        if reporter is not None:
            observers.append(reporter)
    grabber = None
    if cfg.log.video:
        from officina.interfaces import CameraIntrinsics
        from officina.sim.camera import SimCamera, look_at

        eye, target = getattr(task, "video_view", ((1.35, -0.95, 0.95), (0.38, -0.02, 0.12)))
        vcam = SimCamera(sim.world.client_id,
                         CameraIntrinsics.from_fov(cfg.log.video_width, cfg.log.video_height, 50.0),
                         look_at(eye, target), near=0.05, far=5.0)
        grabber = FrameGrabber(vcam, int(round(1.0 / (cfg.log.video_fps * cfg.sim.control_dt))))
        observers.append(grabber)
    plotter = None
    if background_plots and cfg.log.plots:
        from officina.plots import PlotProcess

        plotter = PlotProcess(sim.model.joint_names)
    try:
        return _run_with(cfg, run_dir, sim, safety, task, observers, prog, grabber, plotter)
    finally:
        if plotter is not None:
            plotter.close()  # after its plots, or without drawing when the run stopped


def _run_with(cfg: RunConfig, run_dir: Path, sim, safety, task, observers: list, prog, grabber,
              plotter) -> RunResult:
    from officina.plots import run_plots
    from officina.statelog import StateLogObserver
    from officina.tasks.runtime import run_episode

    safety_log = _SafetyLog(run_dir / "safety.log")
    state_log = None
    ended = False
    try:  # the writer process is started here, so that every way out of the run closes it
        state_log = StateLogObserver.for_cell(run_dir / "state.mcap", sim, writer=cfg.log.writer,
                                              tf_hz=cfg.log.tf_hz)
        observers.append(state_log)
        if prog is not None:
            prog.start()
        wall0 = time.perf_counter()
        ep = run_episode(sim, safety, observers=observers, on_safety_event=safety_log,
                         joint_state_hz=cfg.log.joint_state_hz, object_pose_hz=cfg.log.object_pose_hz,
                         protective_stop=cfg.safety.protective_stop, contact_rate_hz=cfg.safety.contact_rate_hz)
        wall = time.perf_counter() - wall0
        ended = True
        if cfg.log.plots:  # drawn while the state log's writer encodes its last batch
            state_log.flush()
            marked, max_err = getattr(task, "plot_events", ()), ep.metrics["max_joint_tracking_error_rad"]
            if plotter is not None:
                plotter.draw(run_dir, ep.record, marked, max_err)
            else:
                run_plots(run_dir, ep.record, marked, max_err)
    finally:
        if prog is not None:
            prog.stop()
        safety_log.close()
        try:
            if state_log is not None:
                state_log.close()  # what the loop gathered since the last batch: the log keeps it all
        except Exception:
            if ended:  # otherwise the run's own error (or its stop) is the one to report
                raise
    metrics: dict[str, Any] = {
        "task": task.name,
        **ep.metrics,
        "wall_time_s": wall,
        "real_time_factor": ep.metrics["cycle_time_s"] / wall if wall > 0 else float("inf"),
        "seed": cfg.seed,
        "robot": sim.robot.spec.name,
        "versions": versions(),
    }
    write_artifacts(run_dir, cfg, task, ep, metrics, grabber.frames if grabber is not None else None, plotter)
    return RunResult(run_dir, metrics)


def write_artifacts(run_dir: Path, cfg: RunConfig, task, ep, metrics: dict[str, Any], video_frames,
                    plotter=None) -> None:
    """The run folder's files after the loop (the state log is written during it, the standard
    plots are drawn already or by ``plotter``): the task's own plots, video, events, metrics
    (last, once ``plotter`` has written its plots)."""
    rec = ep.record
    if cfg.log.plots and hasattr(task, "plots"):
        task.plots(run_dir, rec, metrics)
    if video_frames:
        import imageio.v2 as imageio

        tmp = run_dir / "video.partial.mp4"
        with imageio.get_writer(tmp, fps=cfg.log.video_fps, codec="libx264", quality=7,
                                macro_block_size=1, ffmpeg_log_level="error") as wr:
            for fr in video_frames:
                wr.append_data(fr)
        tmp.replace(run_dir / "video.mp4")
    write_json_atomic(run_dir / "events.json", ep.events)
    if plotter is not None:
        plotter.wait()
    write_json_atomic(run_dir / "metrics.json", metrics)  # last
