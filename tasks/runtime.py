"""The run loop: build a task's cell in PyBullet, run its procedure one control period at a time,
take its metrics from the simulator.

One path, top to bottom, in the spirit of dm_control's ``control.Environment``:

1. `build_sim_cell` loads the robot, builds the task's scene, starts the clock at zero, makes
   the simulated interfaces (arm, gripper, camera, wrist sensor) and the control model;
2. `run_episode` puts the safety filter in front of the arm (`SafeArm`: the one command path from
   the procedure to the arm), gives the procedure a `Cell` whose ``tick`` is `Clock.tick`, and
   runs it;
3. `Clock.tick` is one control period: the watchdog, the physics steps, one state read, and the
   observers (the `Recorder`, and what the caller adds: pacing, progress, video). Observers
   watch the loop; they never step it;
4. when the procedure returns, the task's metrics are measured from ground truth and returned
   with the record in an `Episode`. Writing the run folder is the caller's business.

Generic: nothing here names a task; what a task logs and shows is declared on the task.
The ROS 2 simulated robot (`officina ros sim`) builds its cell with `build_sim_cell` too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from officina.controllers.contact import ContactMonitor, ContactThresholds
from officina.controllers.model import RobotModel
from officina.controllers.safe_arm import SafeArm
from officina.controllers.safety import SafetyConfig, SafetyFilter, SafetyRecord
from officina.interfaces import Camera, ControlMode, JointState, RobotSpec
from officina.tasks.base import Cell, ProcedureOutcome, RunRecord, Task

__all__ = [
    "SimCell", "build_sim_cell", "Observer", "Clock", "Recorder", "RecordingCamera", "Pacer", "ProgressReporter",
    "FrameGrabber", "Episode", "run_episode",
]


@dataclass
class SimCell:
    """The simulated side of a run: the world and everything built in it."""

    task: Task
    params: Any
    world: Any  # officina.sim.world.SimWorld
    robot: Any  # officina.sim.world.SimRobotHandle
    scene: Any
    arm: Any  # officina.sim.arm.SimArm
    gripper: Any  # officina.sim.arm.SimGripper | None
    camera: Camera | None
    model: RobotModel
    rng: np.random.Generator
    control_dt: float
    wrist: Any = None  # officina.sim.arm.SimForceTorqueSensor | None

    @property
    def substeps(self) -> int:
        return int(self.arm.substeps)

    def close(self) -> None:
        self.world.close()


def build_sim_cell(task: Task, params: Any, spec: RobotSpec, *, rng: np.random.Generator,
                   control_dt: float = 0.001, sim_dt: float = 0.001, gravity: float = -9.81,
                   solver_iterations: int = 50, gui: bool = False) -> SimCell:
    """The task's cell in a new PyBullet world, the clock at zero. Bad input (a URDF that does
    not load, rates that do not divide, a scene the parameters cannot build) raises ValueError
    with one line; the world is closed then."""
    from officina.sim.arm import SimArm, SimForceTorqueSensor, control_substeps
    from officina.sim.grippers import make_gripper
    from officina.sim.world import SimWorld

    control_substeps(control_dt, sim_dt)
    world = SimWorld(sim_dt=sim_dt, control_dt=control_dt, gravity=gravity, gui=gui,
                     solver_iterations=solver_iterations)
    try:
        robot = world.load_robot(spec)
        scene = task.build_scene(world, params, rng)
        world.restart_clock()
        camera = task.make_camera(world, params)
        arm = SimArm(world, robot, control_dt)
        gripper = make_gripper(world, robot)
        model = RobotModel.from_spec(spec)
        wrist = None
        if spec.wrist_sensor is not None:
            ws = spec.wrist_sensor
            # its own stream of the run's randomness: reading the sensor draws noise without
            # changing what the procedure's Generator gives
            wrist = SimForceTorqueSensor(world, robot, ws.joint, rng=rng.spawn(1)[0],
                                         noise_std=(ws.noise_force_n,) * 3 + (ws.noise_torque_nm,) * 3)
    except BaseException:
        world.close()
        raise
    return SimCell(task, params, world, robot, scene, arm, gripper, camera, model, rng, float(control_dt), wrist)


class Observer(Protocol):
    """Watches the loop. An observer that reads what the loop recorded may also have a method
    ``attach(recorder)``, which `run_episode` calls with its `Recorder` before the first tick, and
    one that sees the procedure's camera images a method ``on_capture(frame, camera)`` (see
    `RecordingCamera`)."""

    def on_tick(self, k: int, state: JointState) -> None:
        """Called after control period ``k`` (1, 2, ...) with the arm's state at its end."""


class Clock:
    """Advances the simulated cell by one control period per `tick`.

    ``before_step(t)``/``after_step(t)``: the task's scene motion and ground-truth measurement
    (None when the task has none), called with the period's start and end time."""

    def __init__(self, world, arm: SafeArm, substeps: int, observers: Sequence[Observer] = (), *,
                 before_step: Callable[[float], None] | None = None,
                 after_step: Callable[[float], None] | None = None) -> None:
        self._world = world
        self._arm = arm
        self._substeps = int(substeps)
        self._observers = tuple(observers)
        self._before = before_step
        self._after = after_step
        self.k = 0

    def tick(self) -> None:
        world = self._world
        if self._before is not None:
            self._before(world.time)
        # the watchdog, the protective stop and the speed override the scene has just set (its
        # safety system's): holds the arm when needed, and the next command obeys the override
        self._arm.monitor()
        world.step(self._substeps)
        k = self.k = self.k + 1
        if self._after is not None:
            self._after(world.time)
        state = self._arm.read()
        for obs in self._observers:
            obs.on_tick(k, state)


def _rows(rows: list) -> np.ndarray:
    """``np.array(rows, dtype=float)`` of equally long rows, each a list of floats or an array:
    the same array; rows of lists in one flat pass (np.array inspects each float of nested lists)."""
    if type(rows[0]) is list:
        n = len(rows[0])
        return np.fromiter(chain.from_iterable(rows), float, len(rows) * n).reshape(len(rows), n)
    return np.array(rows, dtype=float)


class Recorder:
    """Observes the loop: joint states and the gripper's width (``width``, NaN without a gripper)
    at ``joint_state_hz``, the command sent to the arm, the tracking error at every period (against
    position commands; none in another mode), and the tracked objects' ground-truth poses at
    ``object_pose_hz``. It also holds the events and signals the procedure logs (the `Cell`
    appends to them).

    The tracking error is ``max |q_ref - q|`` over the joints. Each period only keeps the two
    arrays (the arm's state and its command are new arrays every period, never changed after);
    the errors are computed in batches of ``_ERR_BATCH`` periods, and those of the logged
    samples from the logged arrays in `record`: the same operations, so the same values, as
    one period at a time, at a fraction of numpy's per-call cost."""

    _ERR_BATCH = 256

    def __init__(self, world, arm: SafeArm, objects: Sequence[Any], control_dt: float,
                 joint_state_hz: float = 250.0, object_pose_hz: float = 50.0, gripper: Any = None) -> None:
        self._world = world
        self._arm = arm
        self._gripper = gripper
        self.objects = list(objects)
        self._object_ids = [o.body_id for o in self.objects]
        self.log_every = max(1, int(round(1.0 / (joint_state_hz * control_dt))))
        self.pose_every = max(1, int(round(1.0 / (object_pose_hz * control_dt))))
        self.t: list[float] = []
        self.q: list[np.ndarray] = []
        self.qd: list[np.ndarray] = []
        self.effort: list[np.ndarray] = []
        self.width: list[float] = []
        self.q_ref: list[np.ndarray] = []
        self._max_err = 0.0
        self._err_q: list[np.ndarray] = []  # the periods whose error is not in _max_err yet
        self._err_ref: list[np.ndarray | list[float]] = []
        # an arm with a `position_reference` (SafeArm) hands the command as it sent it (a list of
        # floats from the filter's fast path), without making an array of it every period
        self._by_reference = hasattr(type(arm), "position_reference")
        self.pose_t: list[float] = []
        self.poses: list[np.ndarray] = []
        self.events: list[dict[str, Any]] = []
        self.signals: dict[str, list[tuple[float, float]]] = {}

    def on_tick(self, k: int, state: JointState) -> None:
        arm = self._arm
        if self._by_reference:
            ref = arm.position_reference
            if ref is None:
                ref = state.position  # a velocity or torque command is no joint position to track
        else:
            ref = arm.last_command
            if ref is None or arm.mode != ControlMode.POSITION:
                ref = state.position
        self._err_q.append(state.position)
        self._err_ref.append(ref)
        if len(self._err_q) >= self._ERR_BATCH:
            self._fold_errors()
        if k % self.log_every == 0:
            self.t.append(state.stamp)
            self.q.append(state.position)
            self.qd.append(state.velocity)
            self.effort.append(state.effort)
            self.width.append(self._gripper.width() if self._gripper is not None else float("nan"))
            self.q_ref.append(ref)
        if self.objects and k % self.pose_every == 0:
            self.pose_t.append(state.stamp)
            self.poses.append(self._world.object_poses(self._object_ids))

    def _fold_errors(self) -> None:
        """The largest tracking error of the kept periods into ``_max_err`` (a period with a
        non-finite error does not count)."""
        if self._err_q:
            e = np.abs(np.array(self._err_q, dtype=float) - _rows(self._err_ref)).max(axis=1)
            e = e[e > self._max_err]
            if e.size:
                self._max_err = float(e.max())
            self._err_q, self._err_ref = [], []

    @property
    def max_err(self) -> float:
        """The largest tracking error over every period so far (rad)."""
        self._fold_errors()
        return self._max_err

    def record(self, joint_names: Sequence[str]) -> RunRecord:
        n = len(joint_names)
        k = len(self.objects)

        def arr(rows, width):
            return np.asarray(rows, dtype=float).reshape(-1, width)

        q, q_ref = arr(self.q, n), arr(self.q_ref, n)
        return RunRecord(
            joint_names=tuple(joint_names), t=np.asarray(self.t, dtype=float), q=q,
            qd=arr(self.qd, n), effort=arr(self.effort, n), q_ref=q_ref,
            tracking_error=np.abs(q - q_ref).max(axis=1) if n else np.zeros(len(q)),
            object_names=tuple(getattr(o, "name", f"object{i}") for i, o in enumerate(self.objects)),
            object_t=np.asarray(self.pose_t, dtype=float),
            object_poses=np.asarray(self.poses, dtype=float).reshape(-1, k, 7) if k else np.zeros((0, 0, 7)),
            events=list(self.events), signals={n_: list(v) for n_, v in self.signals.items()},
        )


class RecordingCamera:
    """The procedure's camera, passing each frame it captures to listeners
    ``listener(frame, camera)`` (the state log records the images); otherwise the camera itself."""

    def __init__(self, camera: Camera, listeners: Sequence[Callable[[Any, Camera], None]]) -> None:
        self._camera = camera
        self._listeners = tuple(listeners)

    @property
    def intrinsics(self):
        return self._camera.intrinsics

    def extrinsics(self):
        return self._camera.extrinsics()

    def capture(self):
        frame = self._camera.capture()
        for listener in self._listeners:
            listener(frame, self._camera)
        return frame

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._camera, name)


class Pacer:
    """Observer that keeps simulated time from running ahead of the wall clock (real-time pacing)."""

    def __init__(self, control_dt: float) -> None:
        self._dt = control_dt
        self._wall0: float | None = None

    def on_tick(self, k: int, state: JointState) -> None:
        now = time.perf_counter()
        if self._wall0 is None:
            self._wall0 = now - self._dt
        ahead = k * self._dt - (now - self._wall0)
        if ahead > 0:
            time.sleep(ahead)


class ProgressReporter:
    """Observer that calls ``report(sim_time_s)`` every ``every`` periods."""

    def __init__(self, report: Callable[[float], None], every: int = 500) -> None:
        self._report = report
        self._every = max(1, int(every))

    def on_tick(self, k: int, state: JointState) -> None:
        if k % self._every == 0:
            self._report(state.stamp)


class FrameGrabber:
    """Observer that captures a camera's RGB image every ``every`` periods (for a video)."""

    def __init__(self, camera: Camera, every: int) -> None:
        self._camera = camera
        self._every = max(1, int(every))
        self.frames: list[np.ndarray] = []

    def on_tick(self, k: int, state: JointState) -> None:
        if k % self._every == 0:
            self.frames.append(self._camera.capture().rgb)


@dataclass
class Episode:
    """What one run of a procedure produced (wall-clock figures are the caller's)."""

    outcome: ProcedureOutcome
    metrics: dict[str, Any]
    record: RunRecord
    safety_counts: dict[str, int]
    events: list[dict[str, Any]] = field(default_factory=list)


def max_tcp_speed(model: RobotModel, q: np.ndarray, qd: np.ndarray, frame: str = "tcp") -> float:
    """Largest |J_v(q) qd| of ``frame`` over the samples (m/s)."""
    best = 0.0
    for qi, vi in zip(q, qd):
        best = max(best, float(np.linalg.norm(model.jacobian(qi, frame)[:3] @ vi)))
    return best


def task_planning_scene(task: Task, params: Any):
    """A copy of the task's planning scene for the procedure (None when the task declares none)."""
    fn = getattr(task, "planning_scene", None)
    scene = fn(params) if fn is not None else None
    return scene.copy() if scene is not None and hasattr(scene, "copy") else scene


def task_hook(task: Task, name: str, sim: SimCell) -> Callable[[float], None] | None:
    """The task's per-period hook bound to its scene, or None when the task does not override it
    (so that a task without one costs the loop nothing)."""
    from officina.tasks.base import TaskDefinition

    fn = getattr(task, name, None)
    if fn is None or getattr(type(task), name, None) is getattr(TaskDefinition, name):
        return None
    world, scene, params = sim.world, sim.scene, sim.params
    return lambda t: fn(world, scene, params, t)


def contact_monitor(model: RobotModel):
    """The robot's protective stop as its file states it, or None when it states none."""
    spec = model.spec.protective_stop
    if spec is None:
        return None
    return ContactMonitor(model, ContactThresholds(spec.joint_torque_nm, spec.tcp_force_n, spec.source))


def run_episode(sim: SimCell, safety: SafetyConfig, *, observers: Sequence[Observer] = (),
                on_safety_event: Callable[[SafetyRecord], None] | None = None,
                joint_state_hz: float = 250.0, object_pose_hz: float = 50.0,
                protective_stop: bool = True, contact_rate_hz: float = 500.0) -> Episode:
    """Run the task's procedure on the simulated cell and measure the outcome. With
    ``protective_stop`` the arm stops on unplanned contact as the real one does (the robot
    file's thresholds, checked at ``contact_rate_hz``)."""
    task, model, world = sim.task, sim.model, sim.world
    filt = SafetyFilter(model.limits, sim.control_dt, safety,
                        tcp_position=lambda q: model.frame_transform(q, "tcp")[:3, 3], gravity=model.gravity)
    contact = contact_monitor(model) if protective_stop else None
    arm = SafeArm(sim.arm, filt, on_event=on_safety_event, contact=contact,
                  contact_every=max(1, int(round(1.0 / (contact_rate_hz * sim.control_dt)))))
    tracked = task.tracked_objects(sim.scene) if hasattr(task, "tracked_objects") else (
        getattr(sim.scene, "objects", None) or [])
    recorder = Recorder(world, arm, tracked, sim.control_dt, joint_state_hz, object_pose_hz, gripper=sim.gripper)
    # A scene record with an ``events`` list receives what the procedure logs, so that the task's
    # after_step and metrics can hold it against ground truth (what the procedure localised
    # against the true pose); the procedure itself still sees only the Cell.
    shared = getattr(sim.scene, "events", None)
    if isinstance(shared, list):
        recorder.events = shared
    for obs in observers:
        attach = getattr(obs, "attach", None)
        if attach is not None:
            attach(recorder)
    clock = Clock(world, arm, sim.substeps, [recorder, *observers],
                  before_step=task_hook(task, "before_step", sim), after_step=task_hook(task, "after_step", sim))
    camera = sim.camera
    listeners = [obs.on_capture for obs in observers if hasattr(obs, "on_capture")]
    if camera is not None and listeners:
        camera = RecordingCamera(camera, listeners)
    cell = Cell(arm=arm, gripper=sim.gripper, camera=camera, model=model, tick=clock.tick, rng=sim.rng,
                wrist=sim.wrist,
                planning_scene=task_planning_scene(task, sim.params), events=recorder.events,
                signals=recorder.signals)
    outcome = task.procedure(cell, sim.params)
    # what the task's own per-period hooks logged on its scene record's signals (ground truth the
    # procedure cannot see: a person's pose, a separation) joins the run's signals; events the
    # hooks append to the scene's ``events`` list are already the run's (the same list, above)
    for name, samples in (getattr(sim.scene, "signals", None) or {}).items():
        recorder.signals.setdefault(name, []).extend(samples)
    m = dict(task.metrics(world, sim.scene, sim.params))
    if "success" not in m:
        raise ValueError(f"task {task.name!r}: metrics() must return 'success'")
    record = recorder.record(model.joint_names)
    metrics: dict[str, Any] = {
        "success": bool(m.pop("success")),
        **m,
        "procedure_completed": outcome.completed,
        "procedure_message": outcome.message,
        "cycle_time_s": round(world.time, 6),
        "max_joint_tracking_error_rad": recorder.max_err,
        "max_tcp_speed_m_s": max_tcp_speed(model, record.q, record.qd),
        "safety_events_total": arm.total_events,
        "protective_stops": arm.counts["protective_stop"],
        "safety_events": {k: v for k, v in arm.counts.items() if v},
        "sim_steps": world.steps,
    }
    return Episode(outcome, metrics, record, dict(arm.counts), cell.events)
