"""shared-cell: pick-place while people walk through the cell, under speed and separation monitoring.

The procedure is pick-place's, unchanged (`officina.tasks.pick_place.PickPlace`). What is new is
around it, as in a real collaborative cell:

* **People** (`officina.sim.people`): person-sized kinematic bodies (a cylinder 0.4 m across,
  1.75 m tall) on seeded paths that start and end 5 m from the robot: passing by, walking up to
  the table, and walking straight at the robot at ``person_speed_m_s`` (1.6 m/s, ISO 13855's
  walking speed) until the table stops them; they stay 1-3 s and leave. ``approach_bearings_deg``
  adds people who walk straight at the robot from a given direction at ``approach_start_s``.
* **A safety laser scanner**: two horizontal scanners on the robot's pedestal below the table, at
  ``scanner_height_m`` above the floor (0.3 m, shin height), back to back, each with a 275 deg field
  of view, 0.39 deg angular resolution, a 40 ms scan cycle, a 4 m range (a SICK microScan3 Core's
  data sheet figures), ``scanner_latency_s`` from a scan to its result and ``scanner_noise_m`` of
  range noise (our choices). The people are perceived only through it.
* **Speed and separation monitoring** (`officina.controllers.ssm`), the cell's safety function:
  once per control period it takes the newest scan and the robot's joint state (its encoders),
  computes the separation and S_p (ISO/TS 15066; the robot's stopping figures from its robot
  file, key ``stopping``), and sets the robot's speed override: full speed at or above
  ``S_p(v_full) + margin``, linearly slower to a protective stop at ``S_p(0) + margin``, a resume
  once the separation has been ``hysteresis_m`` above that for ``resume_after_s``. The override
  reaches every command through the safety filter (`SafeArm`: the velocity limits of every mode
  scale with it; the skills slow their trajectories down in time). With ``monitor=false`` the
  override stays 1 (the cell without its safety function: the metrics show what that means).

S_p's inputs: v_h = ``human_speed_m_s`` (1.6 m/s, ISO 13855); T_r = the scanner's response time
(scan cycle + latency) + two control periods, counted as at least 5 ms each (the monitor's cycle and the
override reaching the filter) + the robot's reaction time (robot file); the stop (T_s, S_s) fitted to the robot file's
published stop (`StopModel.from_published`); C = ISO 13855's intrusion distance for the scan
height (1200 mm - 0.4 H: 1.08 m at 0.3 m) unless ``intrusion_m`` is given; Z_d =
``sensor_uncertainty_m`` (0.1 m, of the order of the measurement-error supplement scanner makers
state); Z_r = ``robot_uncertainty_m`` (0.02 m). The monitor's ``margin_m`` (default: the distance a
person walks in one scanner response time, plus three noise deviations, plus 5 cm) covers what
the formula does not: the age of the scan it acts on, and the noise.

Ground truth, at every control period (metrics only): for each person and each robot link, the
distance between the body and the link (PyBullet closest points) and the speed of the link's
closest point; a step is a **separation violation** when a link that moves (faster than 1 cm/s)
is closer to a person than S_p at that link's speed. ``min_margin_m`` is the smallest
(separation - S_p) over moving links. ``cycle_time_lost_pct`` is the time the override took from
the program (the sum over the control periods of (1 - override) x the period, with the override in
force over that period, the value ``/signals/speed_override`` logs at its end) against the cycle
time without it; benchmarks/bench_shared_cell.py compares it with a run of the same seed without people.

The floor is ``floor_z`` below the table top (0.9 m: the standing workbench of pick-place's
manual job); the table's footprint (1.3 x 1.2 m around (0.35, 0)) keeps people out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from officina.tasks.base import MetricInfo, TaskScene
from officina.tasks.pick_place import PickPlace, PickPlaceParams

__all__ = ["SharedCell", "SharedCellParams"]


class SharedCellParams(PickPlaceParams):
    people: int = Field(3, ge=0, le=8)
    people_kinds: list[Literal["pass", "visit", "approach"]] = Field(
        default_factory=lambda: ["visit", "pass", "approach"], min_length=1)
    people_horizon_s: float = Field(15.0, gt=0)  # people set off within this time [s]
    person_speed_m_s: float = Field(1.6, gt=0, le=3.0)  # the fastest a person walks [m/s]
    approach_bearings_deg: list[float] = Field(default_factory=list)  # extra people straight at the robot
    approach_start_s: float = Field(2.0, ge=0)
    floor_z: float = Field(-0.9, le=-0.3)  # the floor, below the table top [m]
    monitor: bool = True
    scanner_height_m: float = Field(0.3, ge=0.1, le=1.0)
    scanner_resolution_deg: float = Field(0.39, gt=0, le=5)
    scanner_period_s: float = Field(0.04, gt=0, le=0.5)
    scanner_latency_s: float = Field(0.06, ge=0, le=0.5)
    scanner_noise_m: float = Field(0.01, ge=0, le=0.1)
    scanner_range_m: float = Field(4.0, gt=1)
    human_speed_m_s: float = Field(1.6, gt=0)  # v_h of S_p
    intrusion_m: float | None = Field(None, ge=0)  # C; None: ISO 13855 for the scan height
    sensor_uncertainty_m: float = Field(0.1, ge=0)  # Z_d
    robot_uncertainty_m: float = Field(0.02, ge=0)  # Z_r
    margin_m: float | None = Field(None, ge=0)  # None: v_h x scanner response + 3 noise + 5 cm
    v_full_m_s: float = Field(1.5, gt=0)  # the fastest the program moves a robot point [m/s]
    hysteresis_m: float = Field(0.1, ge=0)
    resume_after_s: float = Field(0.5, ge=0)
    link_radius_m: float = Field(0.1, ge=0)  # the robot's links around its joint chain [m]
    signal_hz: float = Field(20.0, gt=0, le=1000)

    @model_validator(mode="after")
    def _people(self) -> "SharedCellParams":
        if self.person_speed_m_s > self.human_speed_m_s:
            raise ValueError("person_speed_m_s above human_speed_m_s: S_p would assume people slower than they walk")
        return self


@dataclass
class SharedScene(TaskScene):
    people: list[Any] = field(default_factory=list)
    scanners: list[Any] = field(default_factory=list)
    monitor: Any = None
    robot: Any = None
    ssm: Any = None  # SsmParams
    period_start_t: float = 0.0
    next_signal_t: float = 0.0
    min_separation_m: float = math.inf
    min_margin_m: float = math.inf
    violations: int = 0
    lost_s: float = 0.0
    steps: int = 0
    signals: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


class SharedCell(PickPlace):
    name = "shared-cell"
    description = ("Pick-place while seeded people walk through the cell; speed and separation monitoring "
                   "(ISO/TS 15066) through a simulated safety laser scanner slows and stops the arm.")
    Params = SharedCellParams
    metric_info = {
        **PickPlace.metric_info,
        "min_separation_m": MetricInfo("m", "smallest distance between a person and the robot over the run",
                                       "higher", "min separation"),
        "min_margin_m": MetricInfo("m", "smallest separation minus S_p while a robot link moved", "higher",
                                   "min margin"),
        "separation_violations": MetricInfo("", "control periods in which a moving robot link was closer to a "
                                            "person than S_p (must be 0)", "lower", "separation violations"),
        "ssm_stops": MetricInfo("", "protective stops the separation monitor made", "lower", "SSM stops"),
        "cycle_time_lost_pct": MetricInfo("%", "time the speed override took from the program, against the "
                                          "cycle time without it", "lower", "cycle time lost"),
        "people": MetricInfo("", "people who walked through the cell", None, "people"),
    }
    key_metrics = ("objects_placed", "min_separation_m", "min_margin_m", "separation_violations", "ssm_stops",
                   "cycle_time_lost_pct")
    plot_events = ("pick", "placed", "ssm_stop", "ssm_resume")
    # read by `officina.ros.task_node.check_over_ros`: the sim node and the task node refuse it
    ros_unsupported = ("its speed and separation monitoring (the simulated people and laser scanners) slows and "
                       "stops the arm in `officina run` only: over ROS nothing would apply it")
    video_view = ((3.2, -3.2, 2.6), (0.2, 0.0, -0.3))

    # --- simulation side ---------------------------------------------------------------------------
    def ssm_params(self, params: SharedCellParams, spec, control_dt: float):
        from officina.controllers.ssm import SsmParams, StopModel, intrusion_distance_iso13855

        st = spec.stopping
        if st is None:
            raise ValueError(f"shared-cell needs the robot's stopping figures (key 'stopping' of its robot file); "
                             f"robot {spec.name!r} has none")
        stop = StopModel.from_published(st.speed_m_s, st.stop_time_s, st.stop_distance_m)
        t_r = params.scanner_period_s + params.scanner_latency_s + 2 * max(control_dt, 0.005) + st.reaction_time_s
        c = intrusion_distance_iso13855(params.scanner_height_m) if params.intrusion_m is None else params.intrusion_m
        return SsmParams(stop, t_r, params.human_speed_m_s, c, params.sensor_uncertainty_m, params.robot_uncertainty_m)

    def build_scene(self, world, params: SharedCellParams, rng: np.random.Generator) -> SharedScene:
        from officina.controllers.model import RobotModel
        from officina.controllers.ssm import SeparationMonitor, SpeedScaler
        from officina.sim.people import ScannerSpec, SimLaserScanner, SimPerson, approach_path, random_paths

        base = super().build_scene(world, params, rng)
        robot = world.robots[0]
        ssm = self.ssm_params(params, robot.spec, world.control_dt)
        # the people and the scanner noise draw from their own streams: the procedure's Generator
        # gives the same numbers with or without people
        people_rng, scan_rng = rng.spawn(2)
        paths = random_paths(people_rng, params.people, kinds=tuple(params.people_kinds),
                             horizon_s=params.people_horizon_s, max_speed_m_s=params.person_speed_m_s)
        for b in params.approach_bearings_deg:
            paths.append(approach_path(math.radians(b), params.approach_start_s, speed_m_s=params.person_speed_m_s))
        people = [SimPerson.create(world, f"person{i}", path, params.floor_z) for i, path in enumerate(paths)]
        z = params.floor_z + params.scanner_height_m
        common = dict(resolution_rad=math.radians(params.scanner_resolution_deg), range_m=params.scanner_range_m,
                      scan_period_s=params.scanner_period_s, latency_s=params.scanner_latency_s,
                      noise_m=params.scanner_noise_m)
        streams = scan_rng.spawn(2)
        scanners = [SimLaserScanner(world, ScannerSpec((0.12, 0.0, z), 0.0, **common), streams[0]),
                    SimLaserScanner(world, ScannerSpec((-0.12, 0.0, z), math.pi, **common), streams[1])]
        for sc in scanners:  # running before the robot starts: a scan is out at t = 0
            sc.update(-sc.spec.response_time_s)
        margin = params.margin_m
        if margin is None:
            margin = params.human_speed_m_s * (params.scanner_period_s + params.scanner_latency_s) \
                + 3 * params.scanner_noise_m + 0.05
        scaler = SpeedScaler(ssm, params.v_full_m_s, margin, params.hysteresis_m, params.resume_after_s)
        monitor = SeparationMonitor(RobotModel.from_spec(robot.spec), scaler, link_radius_m=params.link_radius_m)
        return SharedScene(objects=base.objects, fixtures=base.fixtures, people=people, scanners=scanners,
                           monitor=monitor, robot=robot, ssm=ssm)

    def tracked_objects(self, scene: SharedScene):
        return list(scene.objects) + list(scene.people)

    def before_step(self, world, scene: SharedScene, params: SharedCellParams, t: float) -> None:
        for person in scene.people:
            person.move_to(t)
        scans = []
        for sc in scene.scanners:
            sc.update(t)
            scans.append(sc.latest())
        pts = None if any(s is None for s in scans) else np.concatenate([s[1] for s in scans], axis=0)
        q, qd = world.joint_state(scene.robot)
        mon = scene.monitor
        stopped = mon.scaler.stopped
        s = mon.update(t, pts, q, qd)
        if mon.scaler.stopped != stopped and pts is not None:
            scene.events.append({"t": round(t, 6), "event": "ssm_stop" if mon.scaler.stopped else "ssm_resume",
                                 "separation_m": round(mon.last["separation_m"], 3)})
        override = s if params.monitor else 1.0
        world.set_speed_override(scene.robot, override)
        scene.period_start_t = t

    def after_step(self, world, scene: SharedScene, params: SharedCellParams, t: float) -> None:
        from officina.controllers.ssm import point_separation_xy, protective_separation_array
        from officina.sim.people import separation_by_link

        sep = math.inf
        sp_at = math.nan
        margin = math.inf
        violated = False
        mon = scene.monitor
        # people so far away that no robot speed could make them too close are skipped: a lower
        # bound of their separation (the robot's chain grown by its links, the tool and the body)
        # above max(4 m, S_p at the chain's fastest point + 0.5 m); the monitor's S_p is that one
        # (its parameters are scene.ssm)
        far = max(4.0, mon.last["sp_m"] + 0.5)
        chain_xy = None if mon.points is None else mon.points[:, :2].tolist()
        for person in scene.people:
            if chain_xy is not None:
                xy, _ = person.path.at(t)
                if point_separation_xy(float(xy[0]), float(xy[1]), chain_xy,
                                       person.radius_m + mon.link_radius_m + 0.15) > far:
                    continue
            _, d, v = separation_by_link(world, person, scene.robot, far + 1.0)
            if len(d) == 0:
                continue
            sp = protective_separation_array(v, scene.ssm)
            k = int(np.argmin(d))
            if d[k] < sep:
                sep, sp_at = float(d[k]), float(sp[k])
            moving = v > 0.01
            if moving.any():
                margin = min(margin, float(np.min(d[moving] - sp[moving])))
                violated |= bool(np.any(d[moving] < sp[moving]))
        # the time lost: the override in force over the period that just ended (set by before_step
        # at its start; `/signals/speed_override` logs the same value at the period's end)
        scene.lost_s += (1.0 - world.speed_override(scene.robot)) * (t - scene.period_start_t)
        scene.steps += 1
        scene.violations += int(violated)
        scene.min_separation_m = min(scene.min_separation_m, sep)
        scene.min_margin_m = min(scene.min_margin_m, margin)
        if t + 1e-9 >= scene.next_signal_t:
            scene.next_signal_t = t + 1.0 / params.signal_hz
            sig = scene.signals
            last = scene.monitor.last
            for name, value in (("separation_m", sep if math.isfinite(sep) else math.nan),
                                ("protective_separation_m", sp_at),
                                ("monitor_separation_m", last["separation_m"] if math.isfinite(last["separation_m"])
                                 else math.nan),
                                ("monitor_sp_m", last["sp_m"]),
                                ("speed_override", world.speed_override(scene.robot))):
                sig.setdefault(name, []).append((round(t, 6), float(value)))
            for person in scene.people:
                xy, _ = person.path.at(t)
                sig.setdefault(f"{person.name}_x_m", []).append((round(t, 6), float(xy[0])))
                sig.setdefault(f"{person.name}_y_m", []).append((round(t, 6), float(xy[1])))

    def metrics(self, world, scene: SharedScene, params: SharedCellParams) -> dict[str, Any]:
        m = super().metrics(world, scene, params)
        cycle = world.time
        lost = scene.lost_s
        # the job is done only if it was done safely: every object placed, and no control period in
        # which a moving link came closer to a person than the protective separation distance
        m["success"] = bool(m["success"] and scene.violations == 0)
        m.update({
            "min_separation_m": round(scene.min_separation_m, 4) if math.isfinite(scene.min_separation_m) else None,
            "min_margin_m": round(scene.min_margin_m, 4) if math.isfinite(scene.min_margin_m) else None,
            "separation_violations": int(scene.violations),
            "ssm_stops": int(scene.monitor.scaler.stops),
            "cycle_time_lost_pct": round(100.0 * lost / max(cycle - lost, 1e-9), 2),
            "people": len(scene.people),
        })
        return m

    def plots(self, run_dir: Path, record, metrics) -> list[str]:
        sig = record.signals
        if "separation_m" not in sig:
            return []
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, height_ratios=(3, 1))
        for name, label, style in (("separation_m", "separation (ground truth)", "-"),
                                   ("protective_separation_m", "S_p at the closest link", "--"),
                                   ("monitor_separation_m", "separation the scanner gives", ":")):
            if name in sig and sig[name]:
                t, v = np.asarray(sig[name]).T
                ax.plot(t, v, style, label=label)
        ax.set_ylabel("m")
        ax.set_ylim(0, 5)
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title(f"{self.name}: separation against S_p (violations: {metrics.get('separation_violations')})")
        if "speed_override" in sig:
            t, v = np.asarray(sig["speed_override"]).T
            ax2.plot(t, v, color="k")
        ax2.set_ylabel("override")
        ax2.set_xlabel("t [s]")
        fig.tight_layout()
        fig.savefig(run_dir / "separation.png", dpi=110)
        plt.close(fig)
        return ["separation.png"]
