"""The task protocol: what a lab task is, for `officina run`, `sweep`, `regress` and `officina ros task`.

A task is one object with a name, a description, a pydantic ``Params`` model and four methods:

* ``build_scene(world, params, rng)`` creates the cell's fixtures and objects in the simulated
  world (simulation only) and returns a scene record (a `TaskScene`, or anything with the
  attributes the task's own ``metrics`` reads);
* ``make_camera(world, params)`` returns the task's camera in simulation, or None;
* ``procedure(cell, params)`` does the job through the `Cell` only (the interfaces, the control
  model, a ``tick`` that advances one control period, the injected random Generator): the same
  code runs against the simulation and, through ROS 2, against a real arm;
* ``metrics(world, scene, params)`` measures the outcome from simulation ground truth; the
  dict must hold ``success`` (bool).

Everything else a task may declare has a default in `TaskDefinition`, the base class to
subclass: what happens in the world every control period besides the robot (`before_step`: a
conveyor, a person walking) and what the simulator measures every period (`after_step`: a peak
contact force, a minimum separation), which objects the state log tracks (`tracked_objects`),
which events are marked on the plots (`plot_events`), what its metrics mean (`metric_info`),
which of them a summary, a sweep or a regression shows (`key_metrics`), and extra plots
(`plots`). Generic code (the run loop, the run folder, the CLI, sweeps, the ROS task node) never
names a task: it reads these.

docs/tasks.md documents the protocol with a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from officina.interfaces import Arm, Camera, ForceTorqueSensor, Gripper

if TYPE_CHECKING:
    from officina.controllers.model import RobotModel
    from officina.exoskeleton.job import ManualJob
    from officina.sim.world import SimObject, SimWorld

__all__ = [
    "Cell", "MetricInfo", "ProcedureOutcome", "RunRecord", "StrictParams", "Task", "TaskDefinition",
    "TaskScene", "require_gripper", "check_gripper", "check_task_gripper",
]


class StrictParams(BaseModel):
    """Base for task parameters: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class Cell:
    """What a procedure gets: the hardware interfaces, the robot's control model, the clock and
    the run's random Generator. It never holds the simulator or ground truth.

    ``tick()`` advances one control period (simulation: the physics of one period; real arm:
    waiting for the next period). ``world_T_base`` places the robot's base in the world frame.
    ``log_event`` and ``log_signal`` leave a trace in the run folder (events.json, the plots and
    the state log); both are no-ops for the procedure's logic.
    """

    arm: Arm
    gripper: Gripper | None
    camera: Camera | None
    model: "RobotModel"
    tick: Callable[[], None]
    rng: np.random.Generator
    world_T_base: np.ndarray = field(default_factory=lambda: np.eye(4))
    wrist: ForceTorqueSensor | None = None
    planning_scene: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)
    signals: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def now(self) -> float:
        """Seconds of the clock in use (sim time in simulation), from the arm's state stamp."""
        return float(self.arm.read().stamp)

    def log_event(self, t: float | None, what: str, **info: Any) -> None:
        """Record that ``what`` happened at ``t`` (None: now), with JSON-able details."""
        t = self.now() if t is None else t
        self.events.append({"t": round(float(t), 6), "event": what, **info})

    def log_signal(self, name: str, value: float, t: float | None = None) -> None:
        """Record one sample of a scalar signal (e.g. a contact force in N) at ``t`` (None: now)."""
        t = self.now() if t is None else t
        self.signals.setdefault(name, []).append((round(float(t), 6), float(value)))


@dataclass(frozen=True)
class ProcedureOutcome:
    completed: bool
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskScene:
    """What `build_scene` returns, unless a task needs more: ``objects`` are the movable objects
    (tracked in the state log by default), ``fixtures`` the static ones (table, bins, machine)."""

    objects: list["SimObject"] = field(default_factory=list)
    fixtures: list["SimObject"] = field(default_factory=list)


@dataclass(frozen=True)
class MetricInfo:
    """What a metric means: its unit, one line of meaning, and which direction is better
    (``"higher"``, ``"lower"`` or None when neither is)."""

    unit: str = ""
    meaning: str = ""
    better: Literal["higher", "lower"] | None = None
    label: str = ""  # short label for tables; default: the metric's name with spaces


@dataclass(frozen=True)
class RunRecord:
    """What the run loop recorded, as the task's ``plots`` sees it (arrays in joint order).

    ``t``/``q``/``qd``/``effort``/``q_ref``/``tracking_error`` at the log rate;
    ``object_t``/``object_poses`` (M, K, 7: x y z qx qy qz qw) for `tracked_objects`;
    ``events`` and ``signals`` as the procedure logged them.
    """

    joint_names: tuple[str, ...]
    t: np.ndarray
    q: np.ndarray
    qd: np.ndarray
    effort: np.ndarray
    q_ref: np.ndarray
    tracking_error: np.ndarray
    object_names: tuple[str, ...]
    object_t: np.ndarray
    object_poses: np.ndarray
    events: list[dict[str, Any]]
    signals: Mapping[str, Sequence[tuple[float, float]]]


@runtime_checkable
class Task(Protocol):
    """The four methods and three attributes every task has (see the module docstring)."""

    name: str
    description: str
    Params: type[BaseModel]

    def build_scene(self, world: "SimWorld", params: Any, rng: np.random.Generator) -> Any: ...

    def make_camera(self, world: "SimWorld", params: Any) -> Camera | None: ...

    def procedure(self, cell: Cell, params: Any) -> ProcedureOutcome: ...

    def metrics(self, world: "SimWorld", scene: Any, params: Any) -> dict[str, Any]: ...


# Metrics every run has, whatever the task (measured by the run loop, not by the task).
COMMON_METRICS: dict[str, MetricInfo] = {
    "success": MetricInfo("", "the task's own success criterion, from ground truth", "higher"),
    "cycle_time_s": MetricInfo("s", "simulated time from the procedure's start to its end", "lower", "cycle time"),
    "max_joint_tracking_error_rad": MetricInfo(
        "rad", "largest |commanded - measured| joint position over the run, at the control rate", "lower",
        "max joint tracking error"),
    "max_tcp_speed_m_s": MetricInfo("m/s", "largest tcp speed over the logged states", None, "max tcp speed"),
    "safety_events_total": MetricInfo("", "commands the safety filter clamped, rejected or held", "lower",
                                      "safety events"),
    "protective_stops": MetricInfo("", "times the arm stopped on contact nobody planned for", "lower",
                                   "protective stops"),
    "real_time_factor": MetricInfo("", "simulated time / wall time of the procedure", "higher",
                                   "real-time factor"),
    "wall_time_s": MetricInfo("s", "wall time of the procedure", "lower", "wall time"),
    "procedure_completed": MetricInfo("", "the procedure returned that it completed its job (its own view; "
                                      "success is measured from ground truth)", None, "procedure completed"),
    "procedure_message": MetricInfo("", "what the procedure reported when it returned", None, "procedure message"),
    "sim_steps": MetricInfo("", "physics steps simulated", None, "physics steps"),
}


class TaskDefinition:
    """Base class of tasks: the protocol's optional parts with their defaults.

    Subclass it, set ``name``, ``description`` and ``Params``, and write the four methods of
    `Task`. Override what else your task has or shows:

    * ``before_step(world, scene, params, t)``: once per control period before the physics steps
      (simulation only): the scene's own motion, e.g. a kinematic conveyor;
    * ``after_step(world, scene, params, t)``: once per control period after the physics steps
      (simulation only): ground-truth measurements that ``metrics`` reads from the scene;
      a scene record's ``signals`` (name -> list of (t, value)) filled by these hooks are added
      to the run's signals (the state log, the plots) when the procedure returns; a scene record's
      ``events`` list is the run's events list itself: the hooks' events (dicts with ``t`` and
      ``event``) go to events.json and the plots, and the task's hooks and metrics see what the
      procedure logged (to hold what it believed against ground truth);

    * ``metric_info``: name -> `MetricInfo` for the metrics ``metrics`` returns;
    * ``key_metrics``: the metrics a run summary, a sweep table and a regression baseline show
      (``success`` and the cycle time are always shown);
    * ``plot_events``: event names marked on the run's plots;
    * ``tracked_objects(scene)``: the objects whose ground-truth poses the state log records;
    * ``plots(run_dir, record, metrics)``: extra PNGs of the task's own, returns their file names;
    * ``planning_scene(params)``: the cell's fixed geometry as data (an
      `officina.controllers.planning.scene.PlanningScene`): ``build_scene`` builds the simulator's
      bodies from it (`SimWorld.add_planning_scene`) and the procedure's planner gets a copy as
      ``cell.planning_scene``, so what the planner avoids is what the physics has;
    * ``video_view``: the (eye, target) points, world frame, of the camera that records a video;
    * ``manual_job(params)``: the same job done by hand, as data (an
      `officina.exoskeleton.job.ManualJob` derived from the scene parameters), for `officina compare`;
      None (the default) when the task moves nothing a person would lift.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = StrictParams
    metric_info: ClassVar[Mapping[str, MetricInfo]] = {}
    key_metrics: ClassVar[tuple[str, ...]] = ()
    plot_events: ClassVar[tuple[str, ...]] = ()
    video_view: ClassVar[tuple[tuple[float, float, float], tuple[float, float, float]]] = (
        (1.35, -0.95, 0.95), (0.38, -0.02, 0.12))

    def build_scene(self, world: "SimWorld", params: Any, rng: np.random.Generator) -> Any:
        return TaskScene()

    def make_camera(self, world: "SimWorld", params: Any) -> Camera | None:
        return None

    def procedure(self, cell: Cell, params: Any) -> ProcedureOutcome:  # pragma: no cover - abstract
        raise NotImplementedError(f"task {self.name!r} has no procedure")

    def metrics(self, world: "SimWorld", scene: Any, params: Any) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError(f"task {self.name!r} has no metrics")

    def planning_scene(self, params: Any) -> Any:
        """The cell's fixed geometry for the planner (default: None, no planning scene)."""
        return None

    def required_gripper(self, params: Any) -> tuple[str, str] | None:
        """(kind, why): the gripper the task needs ("parallel" or "vacuum") and what for; a run
        or a sweep on a robot without one is refused before it starts (default: None, any)."""
        return None

    def before_step(self, world: "SimWorld", scene: Any, params: Any, t: float) -> None:
        """The scene's own motion in the control period starting at ``t`` (default: none)."""

    def after_step(self, world: "SimWorld", scene: Any, params: Any, t: float) -> None:
        """Ground-truth measurement at the end of the control period ending at ``t`` (default: none)."""

    def tracked_objects(self, scene: Any) -> Sequence["SimObject"]:
        return list(getattr(scene, "objects", None) or [])

    def plots(self, run_dir: Path, record: RunRecord, metrics: Mapping[str, Any]) -> list[str]:
        return []

    def manual_job(self, params: Any) -> "ManualJob | None":
        return None


def require_gripper(world: "SimWorld", kind: str, task: str, why: str) -> None:
    """Refuse, in one line, a cell whose robot has no gripper of ``kind``: "parallel" (two
    fingers: a generic parallel gripper or the Panda's hand) or "vacuum"; ``why`` says what the
    task needs it for. `officina run` turns it into exit 2."""
    for robot in world.robots:
        check_gripper(robot.spec, kind, task, why)


def check_gripper(spec: Any, kind: str, task: str, why: str) -> None:
    """`require_gripper` for one robot's spec (officina.robots.RobotSpec): ValueError in one line."""
    g = spec.gripper
    fits = g is not None and ((g.kind == "vacuum") == (kind == "vacuum"))
    if not fits:
        has = "no gripper" if g is None else ("a vacuum gripper" if g.kind == "vacuum" else "a parallel gripper")
        raise ValueError(f"{task} needs a {kind} gripper ({why}); robot {spec.name!r} has {has}")


def check_task_gripper(task: Any, spec: Any, params: Any) -> None:
    """Refuse, in one line (ValueError), a robot (its `RobotSpec`) whose gripper cannot do ``task``
    with ``params`` (the task's ``required_gripper``, if it declares one): checked by `officina
    run`/`sweep` when the configuration is resolved and by `officina ros task`, before anything starts."""
    needs = getattr(task, "required_gripper", None)
    needs = needs(params) if callable(needs) else None
    if needs:
        check_gripper(spec, needs[0], task.name, needs[1])


def metric_info(task: Any, name: str) -> MetricInfo:
    """What ``name`` means for ``task`` (its own declaration, then the common metrics)."""
    own = getattr(task, "metric_info", {}) or {}
    return own.get(name) or COMMON_METRICS.get(name) or MetricInfo()


def metric_label(task: Any, name: str) -> str:
    """A short label of ``name`` for tables and plots: its declared label, or its name with spaces."""
    return metric_info(task, name).label or name.replace("_", " ")


def key_metrics(task: Any) -> tuple[str, ...]:
    """The metrics a summary, a sweep and a regression show for ``task``, in order."""
    own = tuple(getattr(task, "key_metrics", ()) or ())
    return ("success",) + tuple(m for m in own if m != "success") + tuple(
        m for m in ("cycle_time_s",) if m not in own)
