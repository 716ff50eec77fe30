"""machine-tending: load blanks into a machine tool's fixture through its door, let it machine
them, unload the finished parts onto a tray; N parts per run.

The cell (world frame = the robot's base frame, table top at z = 0; every dimension a parameter):

* the machine: an enclosure standing on the table in front of the robot (front wall at
  ``machine_front_x_m``, ``machine_depth_m`` deep, ``machine_width_m`` wide, roof at
  ``machine_height_m``; 20 mm sheet-metal walls) with a door opening in its front wall
  (``door_width_m`` x ``door_height_m`` from the table up) closed by a sliding door (a 20 mm
  panel 5 mm in front of the wall, parked beside the opening when open);
* inside, the fixture (a vise): a 120 x 120 x 20 mm base plate, a fixed jaw (the x stop, 20 mm
  thick, 100 mm long, 12 mm high) behind the blank, a side stop (30 x 12 x 12 mm) on its -y side
  and the movable jaw 25 mm in front of it (open; clamping is not simulated). The fixture stands
  where the cell's data puts it to within a seeded ``fixture_misplacement_m`` (default +-2 mm in x
  and y): the procedure finds its stops by feel;
* two trays on the table beside the robot (300 x 200 x 15 mm plates, 3 x 2 slots 90 mm apart):
  blanks on one, the finished parts go on the other. Each tray lies where the layout says to
  within a seeded ``tray_misplacement_m`` / ``tray_misplacement_deg``, each blank within 1 mm and
  2 deg of its slot: the procedure perceives them with the overhead RGB-D camera;
* blanks: aluminium blocks, default 40 x 40 x 50 mm, 0.216 kg (density of aluminium 2.70 g/cm3).

The machine is a scene process (`before_step`, the machine's own controller and sensors): it
waits for a blank seated in its fixture (part-present within 8 mm of the seat, at rest) and for
the robot to be out of the door's light curtain (a band across the opening, 3 cm in front of the
wall to 2 cm behind its front face); then it closes the door (``door_time_s``), machines
(``machining_time_s``; the blank turns into a finished part, coloured), opens the door
(``door_time_s``) and waits for the part to be taken out.

The procedure (interfaces, the planner and the camera only; never ground truth): it perceives
the finished tray once and the blanks before every pick (`officina.vision.localize_objects`),
picks a blank, carries it to a pose in front of the door (planned), goes straight through the
door (a line the planner checks against the enclosure: a blocked door is refused, then the
planner looks for any other way in, and the procedure reports the door blocked and puts the
blank back), lowers the blank into the fixture 4 mm off both stops, pushes it against the fixed
jaw and then the side stop with guarded moves (`Skills.move_until_contact`: the wrist sensor, or
the joint-torque estimate without one), releases it, withdraws, and watches the door with the
camera: the door closing is the cycle start, the door open again its end (officina's interfaces
carry no digital I/O, through which a real cell signals these). Then it takes the finished part
out and places it on the finished tray.

The enclosure (walls, roof, door) and the fixture are a planning scene (`planning_scene`): the
simulator builds the same bodies from it (the fixture shifted by its seeded misplacement, the
door moved by the machine). Metrics are ground truth: parts finished and resting on the finished
tray, the cycle time per part, placement errors in the fixture when the machine starts its cycle
(against the seat the stops define), enclosure contacts of the robot or a part (counted per
control period from the simulator's contact points; must be 0), and the share of the run the
machine waits for the robot.

Sources: aluminium density 2.70 g/cm3 (EN AW-6082 datasheets give 2.70); the placement tolerance
(0.5 mm, 1 deg) is our statement of what locating against stops must achieve; door, enclosure,
fixture and tray dimensions are this cell's design (sized so that panda, iiwa and ur5e reach in;
``door_width_m`` and ``door_height_m`` are data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from pydantic import Field, model_validator

from officina.controllers.model import rpy_to_matrix
from officina.controllers.planning.planner import PlannerSettings
from officina.controllers.planning.scene import Box, Obstacle, PlanningScene
from officina.controllers.skills import SkillResult, Skills, SkillStatus
from officina.interfaces import CameraIntrinsics
from officina.tasks.base import (
    Cell, MetricInfo, ProcedureOutcome, RunRecord, StrictParams, TaskDefinition, TaskScene, require_gripper,
)
from officina.vision.localize import LocalizeParams, localize_objects

__all__ = ["MachineTending", "MachineTendingParams"]

WALL_T = 0.02  # sheet-metal walls, roof and door panel [m]
DOOR_GAP = 0.005  # the sliding door runs this far in front of the front wall [m]
DOOR_OVERLAP = 0.02  # the closed door overlaps the opening on each side [m]
PLATE = (0.12, 0.12, 0.02)  # fixture base plate [m]
STOP_H = 0.012  # height of the jaws and the side stop above the plate [m]
JAW_OPEN = 0.025  # the movable jaw's distance from the blank [m]
TRAY_SLOTS = [(dx, dy) for dx in (-0.09, 0.0, 0.09) for dy in (-0.045, 0.045)]  # tray frame [m]
TRAY_SIZE = (0.30, 0.20, 0.015)
UPRIGHT_TOL_DEG = 5.0  # a finished part on the tray stands: its axis within this of vertical
BLANK_COLOR = (0.78, 0.8, 0.83, 1.0)
FINISHED_COLOR = (0.95, 0.72, 0.2, 1.0)
ENCLOSURE = ("front_l", "front_r", "lintel", "roof", "back", "side_l", "side_r", "door")
FIXTURE = ("fixture_plate", "fixed_jaw", "side_stop", "movable_jaw")
WAITING = ("waiting_load", "waiting_unload")
AVERAGE_PERIODS = 20  # readings a guarded move averages its force over
# the arm settled before a descent onto a part: within SETTLE_TOL_RAD of its command (every joint)
# for SETTLE_STILL_S, waited for at most SETTLE_TIMEOUT_S
SETTLE_TOL_RAD = 2e-3
SETTLE_STILL_S = 0.05
SETTLE_TIMEOUT_S = 10.0  # a jolted wrist of the simulated Panda can swing for several seconds
FINGERTIP_BELOW_TCP = 0.01  # the fingertips reach this far below the tcp (Franka Hand, officina's gripper) [m]


class MachineTendingParams(StrictParams):
    n_parts: int = Field(2, ge=1, le=len(TRAY_SLOTS))
    machining_time_s: float = Field(6.0, gt=0, le=3600)
    door_time_s: float = Field(1.5, gt=0, le=10)  # the door's closing (and opening) time
    # the machine (world frame; the robot's base at the origin, the table top at z = 0)
    machine_front_x_m: float = Field(0.58, ge=0.3, le=0.8)  # front face of the front wall
    machine_depth_m: float = Field(0.45, ge=0.25, le=1.0)
    machine_width_m: float = Field(0.8, ge=0.3, le=1.5)
    machine_height_m: float = Field(0.9, ge=0.4, le=1.5)  # the roof's underside
    door_y_m: float = Field(0.0, ge=-0.5, le=0.5)  # the door opening's centre
    door_width_m: float = Field(0.44, gt=0.05, le=1.0)
    door_height_m: float = Field(0.72, gt=0.05, le=1.4)  # from the table up
    door_open_fraction: float = Field(1.0, ge=0.0, le=1.0)  # < 1: the door is stuck that far open
    fixture_depth_m: float = Field(0.16, ge=0.06, le=0.8)  # the seat's centre behind the front face
    fixture_misplacement_m: float = Field(0.002, ge=0.0, le=0.004)  # seeded, +- in x and y
    # the parts and trays
    blank_size_m: tuple[float, float, float] = (0.04, 0.04, 0.05)
    blank_mass_kg: float = Field(0.216, gt=0, le=2.0)
    blank_friction: float = Field(0.6, gt=0, le=2.0)  # PyBullet multiplies it by the other body's (0.8 steel)
    blank_tray_xy: tuple[float, float] = (0.25, -0.5)
    finished_tray_xy: tuple[float, float] = (0.25, 0.5)
    tray_misplacement_m: float = Field(0.01, ge=0.0, le=0.03)
    tray_misplacement_deg: float = Field(3.0, ge=0.0, le=10.0)
    # what the task asks of a placement in the fixture
    placement_tolerance_mm: float = Field(0.5, gt=0)
    placement_tolerance_deg: float = Field(1.0, gt=0)
    # the procedure
    locate_clearance_m: float = Field(0.004, gt=0.0, le=0.01)  # the blank is lowered this far off each stop
    locate_force_n: float = Field(8.0, gt=0, le=60)  # the guarded moves' threshold (raised above the sensor's noise)
    locate_speed_m_s: float = Field(0.01, gt=0, le=0.05)
    side_push_lean_deg: float = Field(20.0, ge=0.0, le=30.0)  # the side push's lean toward the fixed jaw
    grasp_depth_m: float = Field(0.015, gt=0.005, le=0.03)  # fingertips below the part's top
    grasp_force_n: float = Field(30.0, gt=0)
    velocity_scale: float = Field(0.8, gt=0, le=1)
    linear_speed_m_s: float = Field(0.25, gt=0, le=1)
    padding_m: float = Field(0.01, ge=0.0, le=0.05)  # planning clearance to the cell
    planning_time_s: float = Field(2.0, gt=0, le=30)  # the planner's time budget per motion (wall)
    door_poll_s: float = Field(0.1, gt=0, le=2)  # how often the procedure looks at the door
    machine_timeout_s: float = Field(2.0, gt=0, le=60)  # beyond the programmed times
    camera_eye: tuple[float, float, float] = (0.3, 0.0, 1.3)
    camera_target: tuple[float, float, float] = (0.3, 0.0, 0.0)
    camera_fov_deg: float = Field(58.0, gt=10, lt=120)
    camera_size: tuple[int, int] = (1280, 960)

    @model_validator(mode="after")
    def _geometry(self) -> "MachineTendingParams":
        bx, by, bz = self.blank_size_m
        if not (0.02 <= bx <= 0.07 and 0.02 <= by <= 0.06 and 0.035 <= bz <= 0.1):
            raise ValueError("blank_size_m: expected x in [0.02, 0.07], y in [0.02, 0.06] (across the fingers) "
                             "and z in [0.035, 0.1] m")
        if bz - self.grasp_depth_m - STOP_H < 0.015:
            raise ValueError("blank_size_m/grasp_depth_m: the fingers must stay 15 mm above the fixture's stops "
                             f"(blank height - grasp depth >= {STOP_H + 0.015:.3f} m)")
        if self.locate_clearance_m <= self.fixture_misplacement_m:
            raise ValueError("locate_clearance_m must exceed fixture_misplacement_m (the blank goes down clear "
                             "of the stops)")
        if abs(self.door_y_m) + self.door_width_m / 2 > self.machine_width_m / 2 - WALL_T:
            raise ValueError("door_y_m/door_width_m: the door opening must lie within the machine's front wall")
        if self.door_height_m > self.machine_height_m - 0.05:
            raise ValueError("door_height_m must be at least 0.05 m below machine_height_m (the lintel)")
        if not (WALL_T + PLATE[0] / 2 + 0.01 <= self.fixture_depth_m <= self.machine_depth_m - WALL_T - PLATE[0] / 2):
            raise ValueError("fixture_depth_m: the fixture must stand inside the machine")
        return self


# --- the layout, from the parameters (both sides read it) ----------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Derived geometry of the cell (world frame, m)."""

    p: MachineTendingParams

    @property
    def front_x(self) -> float:
        return self.p.machine_front_x_m

    @property
    def seat_xy(self) -> np.ndarray:
        """Where a blank seated against both stops has its centre (nominal fixture)."""
        return np.array([self.front_x + self.p.fixture_depth_m, self.p.door_y_m])

    @property
    def plate_top_z(self) -> float:
        return PLATE[2]

    @property
    def door_x(self) -> float:
        return self.front_x - DOOR_GAP - WALL_T / 2

    @property
    def door_size(self) -> tuple[float, float, float]:
        return (WALL_T, self.p.door_width_m + 2 * DOOR_OVERLAP, self.p.door_height_m + DOOR_OVERLAP)

    def door_y(self, open_fraction: float) -> float:
        """The door panel's centre y when the opening is ``open_fraction`` open."""
        closed = self.p.door_y_m
        opened = self.p.door_y_m + self.p.door_width_m + DOOR_OVERLAP + 0.01
        return closed + float(np.clip(open_fraction, 0.0, 1.0)) * (opened - closed)

    def door_pose_xyz(self, open_fraction: float) -> tuple[float, float, float]:
        return (self.door_x, self.door_y(open_fraction), self.door_size[2] / 2)

    @property
    def carry_z(self) -> float:
        """tcp height for going through the door: the blank's bottom 30 mm above the stops."""
        bz = self.p.blank_size_m[2]
        return self.plate_top_z + STOP_H + 0.03 + (bz - self.p.grasp_depth_m)

    @property
    def outside_xyz(self) -> np.ndarray:
        """The tcp in front of the door: where the robot enters from and waits."""
        return np.array([self.front_x - 0.14, self.p.door_y_m, self.carry_z])

    @property
    def curtain(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """The light curtain across the door opening (the machine's own sensor)."""
        p = self.p
        return ((self.front_x - 0.03, p.door_y_m - p.door_width_m / 2 - 0.02, 0.0),
                (self.front_x + 0.02, p.door_y_m + p.door_width_m / 2 + 0.02, p.door_height_m))

    @property
    def door_watch_bounds(self) -> tuple[float, float, float, float]:
        """Where the camera looks for the closed door: the door's track in front of the opening."""
        p = self.p
        return (self.front_x - 0.03, self.front_x - 0.002, p.door_y_m - p.door_width_m / 2 + 0.03,
                p.door_y_m + p.door_width_m / 2 - 0.03)

    def enclosure(self, open_fraction: float) -> list[Obstacle]:
        p = self.p
        xf, t = self.front_x + WALL_T / 2, WALL_T
        d, w, h = p.machine_depth_m, p.machine_width_m, p.machine_height_m
        y0, dw, dh = p.door_y_m, p.door_width_m, p.door_height_m
        left_w = w / 2 - (y0 + dw / 2)  # +y side of the opening
        right_w = (y0 - dw / 2) + w / 2
        xc = self.front_x + d / 2
        return [
            Obstacle("front_l", Box((t, left_w, h)), (xf, w / 2 - left_w / 2, h / 2)),
            Obstacle("front_r", Box((t, right_w, h)), (xf, -w / 2 + right_w / 2, h / 2)),
            Obstacle("lintel", Box((t, dw, h - dh)), (xf, y0, (h + dh) / 2)),
            Obstacle("roof", Box((d, w, t)), (xc, 0.0, h + t / 2)),
            Obstacle("back", Box((t, w, h)), (self.front_x + d - t / 2, 0.0, h / 2)),
            Obstacle("side_l", Box((d - 2 * t, t, h)), (xc, w / 2 - t / 2, h / 2)),
            Obstacle("side_r", Box((d - 2 * t, t, h)), (xc, -w / 2 + t / 2, h / 2)),
            Obstacle("door", Box(self.door_size), self.door_pose_xyz(open_fraction)),
        ]

    def fixture(self, offset_xy=(0.0, 0.0)) -> list[Obstacle]:
        bx, by, _ = self.p.blank_size_m
        sx, sy = self.seat_xy + np.asarray(offset_xy, float)
        z = self.plate_top_z + STOP_H / 2
        return [
            Obstacle("fixture_plate", Box(PLATE), (sx, sy, PLATE[2] / 2)),
            Obstacle("fixed_jaw", Box((0.02, 0.10, STOP_H)), (sx + bx / 2 + 0.01, sy, z)),
            Obstacle("side_stop", Box((0.03, 0.012, STOP_H)), (sx + bx / 2 - 0.015, sy - by / 2 - 0.006, z)),
            Obstacle("movable_jaw", Box((0.02, 0.10, STOP_H)), (sx - bx / 2 - JAW_OPEN - 0.01, sy, z)),
        ]


def _roi(frame, intr: CameraIntrinsics, world_T_camera: np.ndarray, lo, hi, margin_px: int = 8):
    """The part of a frame where the world box ``lo``..``hi`` appears (a crop of the images and
    the intrinsics of the crop): localising in it costs what its pixels cost."""
    from officina.interfaces import CameraFrame
    from officina.vision.geometry import project_points

    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    cam_T_world = np.linalg.inv(world_T_camera)
    pc = corners @ cam_T_world[:3, :3].T + cam_T_world[:3, 3]
    uv = project_points(pc, intr)
    u0 = int(np.clip(np.floor(uv[:, 0].min()) - margin_px, 0, intr.width - 1))
    v0 = int(np.clip(np.floor(uv[:, 1].min()) - margin_px, 0, intr.height - 1))
    u1 = int(np.clip(np.ceil(uv[:, 0].max()) + margin_px + 1, u0 + 1, intr.width))
    v1 = int(np.clip(np.ceil(uv[:, 1].max()) + margin_px + 1, v0 + 1, intr.height))
    crop = CameraIntrinsics(u1 - u0, v1 - v0, intr.fx, intr.fy, intr.cx - u0, intr.cy - v0, intr.distortion)
    depth = None if frame.depth_m is None else frame.depth_m[v0:v1, u0:u1]
    return CameraFrame(frame.stamp, frame.rgb[v0:v1, u0:u1], depth), crop


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, float(np.sin(yaw / 2)), float(np.cos(yaw / 2)))


def _wrap(a: float, period: float) -> float:
    """``a`` wrapped into (-period/2, period/2]."""
    return float(-((-a + period / 2) % period - period / 2))


# --- the simulated side ------------------------------------------------------------------------------
@dataclass
class Cycle:
    part: int
    start_s: float
    placement_error_mm: float
    placement_error_deg: float
    machined_s: float | None = None
    open_s: float | None = None


@dataclass
class MachineScene(TaskScene):
    """The cell as built, the machine's state and what after_step measured (ground truth)."""

    robot_id: int = -1
    link_names: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # body id -> obstacle name
    enclosure_ids: frozenset = frozenset()
    fixture_ids: frozenset = frozenset()
    part_ids: frozenset = frozenset()
    door_id: int = -1
    curtain_id: int = -1
    seat_xy: np.ndarray = field(default_factory=lambda: np.zeros(2))  # true seat (misplaced fixture)
    finished_tray_pose: tuple[float, float, float] = (0.0, 0.0, 0.0)  # x, y, yaw
    # the machine's state
    phase: str = "waiting_load"
    phase_since: float = 0.0
    clear_since: float | None = None
    part: int | None = None
    finished: set = field(default_factory=set)
    cycles: list[Cycle] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=lambda: [(0.0, "waiting_load")])
    time_in: dict[str, float] = field(default_factory=dict)
    last_t: float = 0.0
    # contacts (control periods with at least one contact)
    enclosure_contacts: int = 0
    fixture_contacts: int = 0
    contact_log: list[str] = field(default_factory=list)


class MachineTending(TaskDefinition):
    name = "machine-tending"
    description = ("Load blanks into a machine's fixture through its door (locating against stops), wait for "
                   "the machining cycle, unload the parts onto a tray.")
    Params = MachineTendingParams
    metric_info = {
        "parts_done": MetricInfo("", "finished parts standing at rest on the finished tray", "higher",
                                 "parts done"),
        "parts_total": MetricInfo("", "parts the run was to make", None, "parts"),
        "cycle_time_per_part_s": MetricInfo("s", "run time / parts done", "lower", "cycle time per part"),
        "part_interval_s": MetricInfo("s", "mean time between consecutive machining cycle starts (steady state)",
                                      "lower", "part interval"),
        "placement_error_mm": MetricInfo("mm", "largest distance of a blank from the seat its stops define, as "
                                         "the cycle starts", "lower", "placement error"),
        "placement_error_deg": MetricInfo("deg", "largest yaw of a blank against the fixture, as the cycle starts",
                                          "lower", "placement error (yaw)"),
        "enclosure_contacts": MetricInfo("", "control periods in which the robot or a part touched the machine's "
                                         "walls, roof or door (must be 0)", "lower", "enclosure contacts"),
        "fixture_contacts": MetricInfo("", "control periods in which the robot touched the fixture", "lower",
                                       "fixture contacts"),
        "machine_wait_share": MetricInfo("", "share of the run the machine waited for the robot (to load or "
                                         "unload)", "lower", "machine waits"),
        "spindle_utilisation": MetricInfo("", "share of the run the machine was machining", "higher",
                                          "spindle utilisation"),
        "cycles_started": MetricInfo("", "machining cycles the machine started", None, "cycles"),
    }
    key_metrics = ("parts_done", "parts_total", "cycle_time_per_part_s", "placement_error_mm",
                   "placement_error_deg", "enclosure_contacts", "machine_wait_share", "spindle_utilisation")
    plot_events = ("pick", "loaded", "cycle_started", "cycle_done", "unloaded", "door_blocked")
    video_view = ((-0.45, -1.05, 1.05), (0.4, 0.0, 0.15))

    # --- the cell's fixed geometry (data: the simulator and the planner read it) ---------------------
    def planning_scene(self, params: MachineTendingParams) -> PlanningScene:
        """The table (1.6 x 1.4 x 0.05 m, top at z = 0), the enclosure with its door where it stands
        (parked, or stuck at ``door_open_fraction``), and the fixture where the cell's data puts it."""
        L = Layout(params)
        table = Obstacle("table", Box((1.6, 1.4, 0.05)), (0.3, 0.0, -0.025))
        return PlanningScene([table, *L.enclosure(params.door_open_fraction), *L.fixture()])

    def required_gripper(self, params) -> tuple[str, str]:
        return ("parallel", "it pushes the blank against the fixture's stops by its lower half, held across its sides")

    def build_scene(self, world, params: MachineTendingParams, rng: np.random.Generator) -> MachineScene:
        kind, why = self.required_gripper(params)
        require_gripper(world, kind, self.name, why)
        L = Layout(params)
        grey, steel = (0.55, 0.57, 0.6, 1.0), (0.35, 0.37, 0.4, 1.0)
        colors = {n: grey for n in ENCLOSURE}
        colors.update({"door": (0.3, 0.45, 0.6, 1.0), "table": (0.72, 0.6, 0.45, 1.0)})
        cell = PlanningScene([o for o in self.planning_scene(params).obstacles if o.name not in FIXTURE])
        fixed = world.add_planning_scene(cell, colors=colors)
        m = params.fixture_misplacement_m
        offset = rng.uniform(-m, m, size=2)
        fixture = world.add_planning_scene(PlanningScene(L.fixture(offset)), colors={n: steel for n in FIXTURE})
        trays, blanks = [], []
        tray_poses = {}
        for name, xy in (("blank_tray", params.blank_tray_xy), ("finished_tray", params.finished_tray_xy)):
            dxy = rng.uniform(-params.tray_misplacement_m, params.tray_misplacement_m, size=2)
            yaw = float(np.deg2rad(rng.uniform(-params.tray_misplacement_deg, params.tray_misplacement_deg)))
            x, y = float(xy[0] + dxy[0]), float(xy[1] + dxy[1])
            tray_poses[name] = (x, y, yaw)
            tray = Obstacle(name, Box(TRAY_SIZE), (x, y, TRAY_SIZE[2] / 2), _yaw_quat(yaw))
            trays += world.add_planning_scene(PlanningScene([tray]), colors={name: (0.25, 0.3, 0.28, 1.0)})
        bx, by, bz = params.blank_size_m
        tx, ty, tyaw = tray_poses["blank_tray"]
        R = rpy_to_matrix((0.0, 0.0, tyaw))[:2, :2]
        for i in range(params.n_parts):
            jitter = rng.uniform(-0.001, 0.001, size=2)
            xy = np.array([tx, ty]) + R @ (np.asarray(TRAY_SLOTS[i]) + jitter)
            yaw = tyaw + float(np.deg2rad(rng.uniform(-2.0, 2.0)))
            pos = (float(xy[0]), float(xy[1]), TRAY_SIZE[2] + bz / 2 + 1e-4)
            blanks.append(world.add_box((bx, by, bz), params.blank_mass_kg, pos, _yaw_quat(yaw), friction=params.blank_friction,
                                        color=BLANK_COLOR, name=f"blank{i}"))
        lo, hi = np.array(L.curtain[0]), np.array(L.curtain[1])
        curtain = world.add_sensor_box((lo + hi) / 2, hi - lo, name="light_curtain")
        world.step(200)  # let the blanks settle
        robot = world.robots[0]
        names = {o.body_id: o.name for o in [*fixed, *fixture, *trays, *blanks]}
        return MachineScene(
            objects=blanks, fixtures=[*fixed, *fixture, *trays], robot_id=robot.body_id,
            link_names={i: n for n, i in robot.link_index.items()}, names=names,
            enclosure_ids=frozenset(o.body_id for o in fixed if o.name in ENCLOSURE),
            fixture_ids=frozenset(o.body_id for o in fixture), part_ids=frozenset(o.body_id for o in blanks),
            door_id=next(o.body_id for o in fixed if o.name == "door"), curtain_id=curtain.body_id,
            seat_xy=L.seat_xy + offset, finished_tray_pose=tray_poses["finished_tray"])

    def make_camera(self, world, params: MachineTendingParams):
        from officina.sim.camera import SimCamera, look_at

        intr = CameraIntrinsics.from_fov(params.camera_size[0], params.camera_size[1], params.camera_fov_deg)
        return SimCamera(world.client_id, intr, look_at(params.camera_eye, params.camera_target, up=(-1.0, 0.0, 0.0)),
                         near=0.05, far=3.0, stamp_fn=lambda: world.time)

    # --- the machine (its controller and sensors), once per control period ----------------------------
    def _set_phase(self, scene: MachineScene, phase: str, t: float) -> None:
        scene.phase, scene.phase_since = phase, t
        scene.timeline.append((round(t, 6), phase))

    def _seated(self, world, scene: MachineScene, params: MachineTendingParams, i: int) -> bool:
        """The machine's part-present sensor: blank i in the fixture (8 mm) and at rest."""
        pos, _ = world.object_pose(scene.objects[i].body_id)
        lin, _ = world.object_velocity(scene.objects[i].body_id)
        z_seat = PLATE[2] + params.blank_size_m[2] / 2
        return bool(np.hypot(*(pos[:2] - scene.seat_xy)) < 0.008 and abs(pos[2] - z_seat) < 0.004
                    and np.linalg.norm(lin) < 0.005)

    def before_step(self, world, scene: MachineScene, params: MachineTendingParams, t: float) -> None:
        scene.time_in[scene.phase] = scene.time_in.get(scene.phase, 0.0) + (t - scene.last_t)
        scene.last_t = t
        if params.door_open_fraction < 1.0:
            return  # the door is stuck: the machine is faulted and does nothing
        L = Layout(params)
        since = t - scene.phase_since
        if scene.phase == "waiting_load":
            part = next((i for i in range(len(scene.objects))
                         if i not in scene.finished and self._seated(world, scene, params, i)), None)
            if part is None or world.closest_distance(scene.robot_id, scene.curtain_id) is not None:
                scene.clear_since = None
                return
            if scene.clear_since is None:
                scene.clear_since = t
            if t - scene.clear_since < 0.1:
                return
            pos, quat = world.object_pose(scene.objects[part].body_id)
            yaw = 2.0 * np.arctan2(quat[2], quat[3])  # the blank stays upright
            sym = np.pi / 2 if abs(params.blank_size_m[0] - params.blank_size_m[1]) < 1e-6 else np.pi
            scene.part = part
            scene.cycles.append(Cycle(part, round(t, 6), 1e3 * float(np.hypot(*(pos[:2] - scene.seat_xy))),
                                      abs(float(np.degrees(_wrap(yaw, sym))))))
            self._set_phase(scene, "closing", t)
        elif scene.phase == "closing":
            f = max(0.0, 1.0 - since / params.door_time_s)
            world.set_object_pose(scene.door_id, L.door_pose_xyz(f))
            if f == 0.0:
                self._set_phase(scene, "machining", t)
        elif scene.phase == "machining":
            if since >= params.machining_time_s:
                world.set_object_color(scene.objects[scene.part].body_id, FINISHED_COLOR)
                scene.finished.add(scene.part)
                scene.cycles[-1].machined_s = round(t, 6)
                self._set_phase(scene, "opening", t)
        elif scene.phase == "opening":
            f = min(1.0, since / params.door_time_s)
            world.set_object_pose(scene.door_id, L.door_pose_xyz(f))
            if f == 1.0:
                scene.cycles[-1].open_s = round(t, 6)
                self._set_phase(scene, "waiting_unload", t)
        elif scene.phase == "waiting_unload":
            pos, _ = world.object_pose(scene.objects[scene.part].body_id)
            if np.hypot(*(pos[:2] - scene.seat_xy)) > 0.03:
                scene.part, scene.clear_since = None, None
                self._set_phase(scene, "waiting_load", t)

    def after_step(self, world, scene: MachineScene, params: MachineTendingParams, t: float) -> None:
        # The machine's bodies are static: the simulator reports only what touches them, usually
        # nothing, so asking each of them is cheaper than asking the robot and every part.
        enclosure = fixture = False
        for body in scene.enclosure_ids:
            for c in world.contact_points(body):
                if c.body_b == scene.robot_id or c.body_b in scene.part_ids:
                    enclosure = True
                    what = scene.link_names.get(c.link_b, str(c.link_b)) if c.body_b == scene.robot_id \
                        else scene.names.get(c.body_b, str(c.body_b))
                    self._note(scene, t, what, body)
        for body in scene.fixture_ids:
            if world.contact_points(body, scene.robot_id):
                fixture = True
        scene.enclosure_contacts += int(enclosure)
        scene.fixture_contacts += int(fixture)

    @staticmethod
    def _note(scene: MachineScene, t: float, what: str, body: int) -> None:
        if len(scene.contact_log) < 5:
            entry = f"{what} touches {scene.names.get(body, body)} at {t:.3f} s"
            if not scene.contact_log or scene.contact_log[-1].split(" at ")[0] != entry.split(" at ")[0]:
                scene.contact_log.append(entry)

    def metrics(self, world, scene: MachineScene, params: MachineTendingParams) -> dict[str, Any]:
        tx, ty, tyaw = scene.finished_tray_pose
        R = rpy_to_matrix((0.0, 0.0, -tyaw))[:2, :2]
        done = 0
        for i in scene.finished:
            pos, (qx, qy, _, _) = world.object_pose(scene.objects[i].body_id)
            lin, _ = world.object_velocity(scene.objects[i].body_id)
            local = R @ (pos[:2] - np.array([tx, ty]))
            # standing on the tray: its centre over the tray at its height standing, and its axis
            # vertical (a blank about as tall as wide lies on its side at nearly that height)
            upright = 1.0 - 2.0 * (qx * qx + qy * qy) >= np.cos(np.radians(UPRIGHT_TOL_DEG))
            on_tray = (abs(local[0]) < TRAY_SIZE[0] / 2 and abs(local[1]) < TRAY_SIZE[1] / 2
                       and abs(pos[2] - (TRAY_SIZE[2] + params.blank_size_m[2] / 2)) < 0.005 and upright)
            done += int(on_tray and np.linalg.norm(lin) < 0.01)
        T = float(world.time)
        starts = [c.start_s for c in scene.cycles]
        err_mm = max((c.placement_error_mm for c in scene.cycles), default=None)
        err_deg = max((c.placement_error_deg for c in scene.cycles), default=None)
        within = bool(scene.cycles) and err_mm <= params.placement_tolerance_mm and \
            err_deg <= params.placement_tolerance_deg
        waiting = sum(scene.time_in.get(ph, 0.0) for ph in WAITING)
        return {
            "success": done == params.n_parts and scene.enclosure_contacts == 0 and within,
            "parts_done": done,
            "parts_total": params.n_parts,
            "cycle_time_per_part_s": T / done if done else None,
            "part_interval_s": float(np.mean(np.diff(starts))) if len(starts) > 1 else None,
            "placement_error_mm": err_mm,
            "placement_error_deg": err_deg,
            "placement_errors_mm": [round(c.placement_error_mm, 4) for c in scene.cycles],
            "enclosure_contacts": scene.enclosure_contacts,
            "enclosure_contact_log": list(scene.contact_log),
            "fixture_contacts": scene.fixture_contacts,
            "machine_wait_share": waiting / T if T > 0 else None,
            "spindle_utilisation": scene.time_in.get("machining", 0.0) / T if T > 0 else None,
            "cycles_started": len(scene.cycles),
            "machine_timeline": [[t, ph] for t, ph in scene.timeline],
        }

    def plots(self, run_dir: Path, record: RunRecord, metrics: Mapping[str, Any]) -> list[str]:
        """machine.png: the machine's state over the run (what it waited for, what it did) and the
        procedure's events."""
        timeline = metrics.get("machine_timeline") or []
        if not timeline:
            return []
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        colors = {"waiting_load": "#d62728", "waiting_unload": "#ff9896", "closing": "#9edae5",
                  "machining": "#2ca02c", "opening": "#9edae5"}
        end = float(metrics.get("cycle_time_s") or (record.t[-1] if len(record.t) else timeline[-1][0]))
        fig, ax = plt.subplots(figsize=(10, 2.6))
        for k, (t0, ph) in enumerate(timeline):
            t1 = timeline[k + 1][0] if k + 1 < len(timeline) else end
            ax.barh(1, t1 - t0, left=t0, color=colors.get(ph, "grey"), edgecolor="none",
                    label=ph if ph not in [p for _, p in timeline[:k]] else None)
        for e in record.events:
            if e["event"] in self.plot_events:
                ax.axvline(e["t"], color="k", lw=0.6, alpha=0.5)
                ax.text(e["t"], 1.45, e["event"], rotation=90, fontsize=6, va="bottom")
        ax.set_yticks([1])
        ax.set_yticklabels(["machine"])
        ax.set_ylim(0.5, 2.4)
        ax.set_xlim(0, end)
        ax.set_xlabel("time [s]")
        ax.legend(loc="upper right", fontsize=7, ncol=5)
        fig.tight_layout()
        fig.savefig(run_dir / "machine.png", dpi=110)
        plt.close(fig)
        return ["machine.png"]

    # --- the procedure (interfaces, planner and camera only) ------------------------------------------
    def procedure(self, cell: Cell, params: MachineTendingParams) -> ProcedureOutcome:
        try:
            return _Procedure(cell, params).run()
        except _Abort as exc:
            return ProcedureOutcome(False, str(exc), exc.details)


class _Abort(Exception):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class _Procedure:
    """The job, step by step, over the cell's interfaces."""

    def __init__(self, cell: Cell, params: MachineTendingParams) -> None:
        self.cell, self.p, self.L = cell, params, Layout(params)
        model = self.model = cell.model
        self.scene = (cell.planning_scene if cell.planning_scene is not None
                      else MachineTending().planning_scene(params)).copy()
        vs = params.velocity_scale
        self.sk = Skills(cell.arm, cell.gripper, model, cell.tick, rng=cell.rng, velocity_scale=vs,
                         linear_speed_m_s=params.linear_speed_m_s, planning_scene=self.scene,
                         padding_m=params.padding_m, world_T_base=cell.world_T_base,
                         planner_settings=PlannerSettings(time_budget_s=params.planning_time_s, velocity_scale=vs,
                                                          acceleration_scale=vs, jerk_scale=vs))
        self.base_T_world = np.linalg.inv(cell.world_T_base)
        self.R_base_world = self.base_T_world[:3, :3]
        T_home = model.frame_transform(model.spec.home, "tcp")
        psi_home = float(np.arctan2(T_home[1, 0], T_home[0, 0]))
        # the tcp's yaw in the fixture: fingers closing along world y, the one of 0 and pi nearest home
        self.psi_fix = 0.0 if abs(_wrap(psi_home, 2 * np.pi)) <= np.pi / 2 else np.pi
        bx, by, bz = params.blank_size_m
        self.sym = np.pi / 2 if abs(bx - by) < 1e-6 else np.pi
        # the carried blank in the tcp frame (tcp z points down: the blank's centre is below it)
        self.tcp_T_blank = np.eye(4)
        self.tcp_T_blank[2, 3] = bz / 2 - params.grasp_depth_m
        ws = model.spec.wrist_sensor
        noise = ws.noise_force_n if (ws is not None and cell.wrist is not None) else 0.0
        # the guarded moves average the force over AVERAGE_PERIODS readings (and the tare over as
        # many): the threshold clears 6 standard deviations of that difference
        self.locate_force = max(params.locate_force_n, 6.0 * noise * np.sqrt(2.0 / AVERAGE_PERIODS))
        # lines up from a part start within the padding of it until the fingertips are above it
        self.escape_m = params.grasp_depth_m + 0.01 + params.padding_m + 0.01
        self.tray_slots: list[np.ndarray] = []
        self.done = 0

    # --- helpers -------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.cell.now()

    def pose(self, xyz, psi: float) -> np.ndarray:
        """base_T_tcp for the tcp at ``xyz`` (world), pointing down, yaw ``psi`` about world z."""
        T = np.eye(4)
        T[:3, :3] = rpy_to_matrix((0.0, 0.0, psi)) @ np.diag([1.0, -1.0, -1.0])
        T[:3, 3] = xyz
        return self.base_T_world @ T

    def tcp_world(self) -> np.ndarray:
        return (self.cell.world_T_base @ self.model.frame_transform(self.sk.q_command, "tcp"))[:3, 3]

    def must(self, r: SkillResult, what: str) -> SkillResult:
        if not r.ok:
            self.cell.log_event(None, "failed", step=what, reason=r.message)
            raise _Abort(f"{what}: {r.message}", parts_done=self.done)
        return r

    def planned(self, move, target) -> SkillResult:
        """A planned move, tried once more (with the next seed) when the planner gave up: its time
        budget ran out, or its timed trajectory failed the final check."""
        r = move(target)
        if r.status == SkillStatus.PLANNING_FAILED:
            self.cell.log_event(None, "replan", reason=r.message)
            r = move(target)
        return r

    def in_position(self, tol_rad: float = 2e-3, timeout_s: float = 1.0) -> bool:
        """Hold the last command until the arm has reached it (a real arm lags its commands by its
        controller's and the network's delays); grasps and releases wait for this. False when it
        has not within ``timeout_s`` (logged as a ``not_in_position`` event with the largest joint
        error)."""
        if self.sk.wait_in_position(tol_rad, timeout_s):
            return True
        self.cell.log_event(None, "not_in_position", error_mrad=round(1e3 * self.sk.position_error(), 1))
        return False

    def settled_above(self, what: str) -> None:
        """Before a straight descent that puts the open fingers around a part (about 10 mm clear
        of it on each side): hold the approach point until the arm has stayed within
        ``SETTLE_TOL_RAD`` of it for ``SETTLE_STILL_S``. A fast approach can leave the arm well off
        its path for a while after it has been sent there: a command stream that stalled and
        resumed (a busy process between the procedure and the arm) jolts the arm, and the
        simulated Panda's wrist swings by tens of millimetres at the tcp for up to several seconds;
        descending at once takes a finger into the part."""
        sk = self.sk
        if sk.wait_in_position(SETTLE_TOL_RAD, SETTLE_TIMEOUT_S, still_s=SETTLE_STILL_S):
            return
        err = sk.position_error()
        self.cell.log_event(None, "not_in_position", error_mrad=round(1e3 * err, 1))
        raise _Abort(f"{what}: the arm did not settle at the approach point within {SETTLE_TIMEOUT_S:g} s "
                     f"(largest joint error {1e3 * err:.1f} mrad)", parts_done=self.done)

    def sensor_R(self) -> np.ndarray | None:
        """The wrist sensor's orientation in the base frame (its joint's frame, which need not be
        the flange's: the Panda's hand is turned 45 deg on its flange); None without a sensor."""
        ws = self.model.spec.wrist_sensor
        if ws is None or self.cell.wrist is None:
            return None
        return self.model.frame_transform(self.sk.q_command, ws.joint)[:3, :3]

    def capture(self):
        cam = self.cell.camera
        if cam is None:
            raise _Abort("the task needs the cell's camera")
        return cam.capture(), cam.intrinsics, cam.extrinsics()

    # --- perception ----------------------------------------------------------------------------------
    def localize(self, bounds, z_range, table_z: float, **kw) -> list:
        """Objects on a surface at ``table_z`` within ``bounds`` (xmin, xmax, ymin, ymax) and
        ``z_range``, from a new frame (only the region's pixels are processed)."""
        frame, intr, extr = self.capture()
        lo, hi = (bounds[0], bounds[2], z_range[0]), (bounds[1], bounds[3], z_range[1])
        frame, intr = _roi(frame, intr, extr, lo, hi)
        return localize_objects(frame, intr, extr, LocalizeParams(table_height_m=table_z, xy_bounds=tuple(bounds), **kw))

    def find_tray(self, xy) -> tuple[np.ndarray, float]:
        """The finished tray's centre and yaw (a 15 mm plate on the table, seen from above)."""
        r = 0.22
        objs = self.localize((xy[0] - r, xy[0] + r, xy[1] - r, xy[1] + r), (0.0, TRAY_SIZE[2]), 0.0)
        trays = [o for o in objs if abs(o.size_m[0] - TRAY_SIZE[0]) < 0.02 and abs(o.size_m[1] - TRAY_SIZE[1]) < 0.02]
        if not trays:
            raise _Abort(f"finished tray not found near {tuple(round(v, 3) for v in xy)}")
        t = trays[0]
        self.cell.log_event(None, "tray_found", x=round(float(t.position[0]), 4), y=round(float(t.position[1]), 4),
                            yaw_deg=round(float(np.degrees(t.yaw_rad)), 2))
        return np.asarray(t.position[:2], float), float(t.yaw_rad)

    def find_blanks(self) -> list:
        x, y = self.p.blank_tray_xy
        r = 0.22
        bx, by, bz = self.p.blank_size_m
        objs = self.localize((x - r, x + r, y - r, y + r), (0.0, TRAY_SIZE[2] + bz), TRAY_SIZE[2])
        return [o for o in objs if o.kind == "box" and abs(o.size_m[2] - bz) < 0.01
                and abs(max(o.size_m[:2]) - max(bx, by)) < 0.012 and abs(min(o.size_m[:2]) - min(bx, by)) < 0.012]

    def door_closed(self) -> bool:
        """The camera sees the door panel across the opening (something tall on the door's track)."""
        objs = self.localize(self.L.door_watch_bounds, (0.0, self.p.door_height_m), 0.0, min_pixels=30)
        return any(o.size_m[2] > 0.5 * self.p.door_height_m for o in objs)

    # --- the job --------------------------------------------------------------------------------------
    def run(self) -> ProcedureOutcome:
        p, sk = self.p, self.sk
        self.must(sk.move_joints(self.model.spec.home), "home")
        sk.release()
        centre, yaw = self.find_tray(p.finished_tray_xy)
        self.scene.add(Obstacle("finished_tray", Box(TRAY_SIZE), (*centre, TRAY_SIZE[2] / 2), _yaw_quat(yaw)))
        R = rpy_to_matrix((0.0, 0.0, yaw))[:2, :2]
        self.tray_slots = [centre + R @ np.asarray(s) for s in TRAY_SLOTS]
        self.tray_yaw = yaw
        L = self.L
        self.q_out = self.station(L.outside_xyz, self.model.spec.home, "the station in front of the door")
        sx, sy = L.seat_xy
        c = p.locate_clearance_m
        self.q_in = self.station((sx - c, sy + c, L.carry_z), self.q_out, "the station above the fixture")
        blanks = self.find_blanks()
        for k in range(p.n_parts):
            if not blanks:
                raise _Abort(f"no blank left on the tray for part {k + 1}", parts_done=self.done)
            origin = self.pick(blanks)
            seat = self.load(origin)
            self.wait_for_machine()
            blanks = self.find_blanks()  # the tray seen while the machine works
            self.unload(seat)
            self.place_finished(k)
        self.must(self.planned(sk.move_joints, self.model.spec.home), "home")
        sk.settle(0.2)
        return ProcedureOutcome(True, details={"parts_done": self.done})

    def set_obstacles(self, prefix: str, objs) -> None:
        for name in [o.name for o in self.scene.obstacles if o.name.startswith(prefix)]:
            self.scene.remove(name)
        for k, o in enumerate(objs):
            self.scene.add(Obstacle(f"{prefix}{k}", Box(tuple(float(v) for v in o.size_m)),
                                    tuple(float(v) for v in o.position), _yaw_quat(o.yaw_rad)))

    def pick(self, blanks) -> np.ndarray:
        """Pick the first blank seen (the others are obstacles); returns where it stood."""
        cell, p, sk = self.cell, self.p, self.sk
        o = blanks.pop(0)
        self.set_obstacles("blank", blanks)
        bx, by, bz = p.blank_size_m
        yaw = o.yaw_rad if (o.size_m[0] >= o.size_m[1]) == (bx >= by) else o.yaw_rad + np.pi / 2
        psi = self.psi_fix + _wrap(yaw - self.psi_fix, self.sym)
        top = float(o.position[2] + o.size_m[2] / 2)
        x, y = float(o.position[0]), float(o.position[1])
        cell.log_event(None, "pick", x=round(x, 4), y=round(y, 4), yaw_deg=round(float(np.degrees(psi)), 2))
        sk.release(width_m=min(by + 0.02, sk.gripper.max_width if sk.gripper else by + 0.02))
        above = top + 0.08
        self.must(self.planned(sk.move_to_pose, self.pose((x, y, above), psi)), "approach the blank")
        self.settled_above("approach the blank")
        self.must(sk.move_line(self.pose((x, y, top - p.grasp_depth_m), psi)), "reach the blank")
        self.in_position()
        self.must(sk.grasp(p.grasp_force_n), "grasp the blank")
        self.scene.attach("carried", Box(tuple(p.blank_size_m)), self.tcp_T_blank)
        self.must(sk.move_line(self.pose((x, y, above), psi), escape_m=self.escape_m), "lift the blank")
        return np.array([x, y, top - p.grasp_depth_m, psi])

    def put_back(self, origin: np.ndarray) -> None:
        """Return the blank in the gripper to where it was picked (after a refused load)."""
        sk = self.sk
        x, y, z, psi = origin
        if sk.move_to_pose(self.pose((x, y, z + 0.08), psi)).ok:
            self.scene.detach("carried")
            sk.move_line(self.pose((x, y, z + 0.001), psi))
            sk.release(width_m=self.p.blank_size_m[1] + 0.01)
            sk.move_line(self.pose((x, y, z + 0.08), psi), escape_m=self.escape_m)
            self.cell.log_event(None, "returned", x=round(float(x), 4), y=round(float(y), 4))
        sk.move_joints(self.model.spec.home)

    def station(self, xyz, q_hint: np.ndarray, what: str) -> np.ndarray:
        """The joint configuration of a station of the cell (the tcp at ``xyz``, down, the
        fixture's yaw), solved once near ``q_hint``: moving between stations in joint space keeps
        the arm's posture from one motion to the next, as taught points do on a real cell."""
        r = self.sk.ik(self.pose(xyz, self.psi_fix), q_hint)
        if not r.success:
            raise _Abort(f"{what} unreachable: no IK solution (error {r.position_error_m * 1e3:.1f} mm)")
        return r.q

    def go_out(self, what: str) -> None:
        """To the station in front of the door (direct when clear, planned otherwise)."""
        self.must(self.planned(self.sk.move_joints, self.q_out), what)

    def leave(self, what: str) -> None:
        """From inside the machine out to the station in front of the door: the direct motion when
        clear, else the planner; when the planner finds no way in its time, back to the station
        above the fixture and out the way the blank came in."""
        r = self.planned(self.sk.move_joints, self.q_out)
        if r.ok:
            return
        if r.status not in (SkillStatus.COLLISION, SkillStatus.PLANNING_FAILED):
            self.must(r, what)
        self.cell.log_event(None, "retrace", step=what, reason=r.message)
        self.must(self.planned(self.sk.move_joints, self.q_in), f"{what}: back to the station above the fixture")
        self.must(self.planned(self.sk.move_joints, self.q_out), what)

    def enter(self, q_in: np.ndarray, xyz, what: str) -> None:
        """From in front of the door in to the station ``q_in`` (the tcp at ``xyz``): the direct
        joint motion when it keeps clear of the machine; else the planner, free to choose the
        arm's configuration at ``xyz``; when it finds no way, the door is blocked."""
        r = self.sk.move_joints(q_in)
        if r.ok:
            return
        if r.status not in (SkillStatus.COLLISION, SkillStatus.PLANNING_FAILED):
            self.must(r, what)
        first = r.message
        r = self.sk.move_to_pose(self.pose(xyz, self.psi_fix))
        if r.ok:
            self.cell.log_event(None, "planned_in", station=first)
            return
        if r.status not in (SkillStatus.COLLISION, SkillStatus.PLANNING_FAILED, SkillStatus.IK_FAILED):
            self.must(r, what)
        self.cell.log_event(None, "door_blocked", station=first, planner=r.message)
        raise _Abort(f"door blocked: {what}: the station inside: {first}; the planner: {r.message}",
                     parts_done=self.done, door_blocked=True)

    def load(self, origin: np.ndarray) -> np.ndarray:
        """Carry the blank into the fixture and locate it against the stops; returns where it
        stands (world x, y), as felt."""
        cell, p, sk, L = self.cell, self.p, self.sk, self.L
        c = p.locate_clearance_m
        bx, by, bz = p.blank_size_m
        sx, sy = L.seat_xy
        self.go_out("carry the blank to the door")
        try:
            self.enter(self.q_in, (sx - c, sy + c, L.carry_z), "load")
        except _Abort:
            self.put_back(origin)
            raise
        # Down into the fixture, the blank's bottom 1.5 mm over the plate and clear of the stops
        # (the blank is no longer checked against the fixture: it goes where the stops are).
        self.scene.detach("carried")
        hover = L.plate_top_z + 0.0015 + (bz - p.grasp_depth_m)
        self.must(sk.move_line(self.pose((sx - c, sy + c, hover), self.psi_fix)), "lower the blank into the fixture")
        # x: pushed in the firm grip against the fixed jaw; then let go
        r = self.guarded((1.0, 0.0, 0.0), 2 * c + 0.003, "x")
        travel_x = r.info["travel_m"]
        x_blank = float(self.tcp_world()[0])  # the fingers hold it here (its x in the fingers as picked)
        self.must(sk.move_line(self.pose(self.tcp_world() - (0, 0, 0.0015), self.psi_fix)), "set the blank down")
        self.must(sk.release(width_m=by + 0.01), "release the blank")
        w = sk.gripper.width() if sk.gripper is not None else by + 0.01
        # y: the finger on its +y side pushes it, free, along the jaw against the side stop: the flat
        # pad and the stop square it (a grip would drag it off the stop as the fingers open). The
        # fingertips go down to 3 mm over the stop, so that the push is low on the blank and slides
        # it rather than tips it. The push leans toward the fixed jaw (`side_push_lean_deg`): a blank
        # that came to the jaw on a corner (picked a degree or two off square) turns square against
        # the side stop, and the pad's friction keeps it against the jaw while it turns; pushed
        # straight along y it turns away from the jaw.
        # The fingertips come within the planning padding of the side stop on purpose: the stop is
        # out of the planning scene from lowering the fingers until they have backed off the blank.
        tcp = self.tcp_world()
        push_z = L.plate_top_z + STOP_H + 0.003 + FINGERTIP_BELOW_TCP
        side_stop = self.scene.remove("side_stop")
        try:
            self.must(sk.move_line(self.pose((tcp[0], tcp[1], min(tcp[2], push_z)), self.psi_fix)),
                      "lower the fingers")
            lean = np.radians(p.side_push_lean_deg)
            r = self.guarded((np.sin(lean), -np.cos(lean), 0.0), ((w - by) / 2 + 2 * c + 0.003) / np.cos(lean), "y")
            tcp = self.tcp_world()
            y_blank = float(tcp[1] + w / 2 - by / 2)
            self.must(sk.move_line(self.pose((tcp[0], tcp[1] + 0.0015, tcp[2]), self.psi_fix)), "back off the blank")
        finally:
            self.scene.add(side_stop)
        cell.log_event(None, "located", x=round(x_blank, 4), y=round(y_blank, 4), travel_x_mm=round(1e3 * travel_x, 2),
                       travel_y_mm=round(1e3 * r.info["travel_m"] * np.cos(lean), 2), force_n=round(self.locate_force, 1))
        self.scene.add(Obstacle("part_in_fixture", Box(tuple(p.blank_size_m)), (x_blank, y_blank, L.plate_top_z + bz / 2),
                                _yaw_quat(self.psi_fix)))
        tcp = self.tcp_world()
        self.line_or_plan((tcp[0], tcp[1], L.carry_z), "withdraw from the fixture", escape_m=self.escape_m)
        self.leave("withdraw through the door")
        cell.log_event(None, "loaded")
        return np.array([x_blank, y_blank])

    def guarded(self, d_world, distance_m: float, axis: str) -> SkillResult:
        """A guarded move of the tcp along ``d_world`` until the locating force."""
        cell, sk = self.cell, self.sk
        self.in_position()
        r = sk.move_until_contact(self.R_base_world @ np.asarray(d_world, float), distance_m, self.locate_force,
                                  speed_m_s=self.p.locate_speed_m_s, wrist=cell.wrist, wrist_R_base=self.sensor_R(),
                                  average_periods=AVERAGE_PERIODS)
        if r.status == SkillStatus.NO_CONTACT:
            cell.log_event(None, "failed", step=f"locate {axis}", reason=r.message)
            raise _Abort(f"no {axis} stop felt in the fixture: {r.message}", parts_done=self.done)
        self.must(r, f"locate against the {axis} stop")
        cell.log_event(None, "touched", stop=axis, force_n=round(r.info["force_n"], 2),
                       travel_mm=round(1e3 * r.info["travel_m"], 2), tcp=[round(v, 5) for v in r.info["tcp_xyz"]])
        return r

    def line_or_plan(self, xyz, what: str, escape_m: float = 0.0) -> None:
        """A straight line to ``xyz`` (tcp down, the fixture's yaw); where the line cannot be
        followed (the arm's joints, not a collision), a planned move."""
        T = self.pose(xyz, self.psi_fix)
        r = self.sk.move_line(T, escape_m=escape_m)
        if r.status == SkillStatus.PLANNING_FAILED:
            r = self.planned(self.sk.move_to_pose, T)
        self.must(r, what)

    def wait_for_machine(self) -> None:
        """Watch the door: closed (the cycle started), then open again (the part is done). The
        machine's programmed times say when to look; each look is one camera frame."""
        cell, p, sk = self.cell, self.p, self.sk
        t_clear = self.now()  # the robot is out of the door: the machine may start
        sk.settle(0.5 * p.door_time_s)
        while not self.door_closed():
            if self.now() - t_clear > p.door_time_s + p.machine_timeout_s:
                raise _Abort("the machine did not start its cycle (its door stayed open)", parts_done=self.done)
            sk.settle(p.door_poll_s)
        cell.log_event(None, "cycle_started")
        sk.settle(max(0.0, t_clear + 2 * p.door_time_s + p.machining_time_s - self.now()))
        t_done = self.now()
        while self.door_closed():
            if self.now() - t_done > p.machine_timeout_s:
                raise _Abort("the machine did not finish its cycle (its door stayed closed)", parts_done=self.done)
            sk.settle(p.door_poll_s)
        cell.log_event(None, "cycle_done")

    def unload(self, seat_xy: np.ndarray) -> None:
        p, sk, L = self.p, self.sk, self.L
        by, bz = p.blank_size_m[1], p.blank_size_m[2]
        x, y = float(seat_xy[0]), float(seat_xy[1])
        sk.release(width_m=by + 0.02)
        self.enter(self.station((x, y, L.carry_z), self.q_in, "the part in the fixture"), (x, y, L.carry_z), "unload")
        self.scene.remove("part_in_fixture")
        grasp_z = L.plate_top_z + bz - p.grasp_depth_m
        self.settled_above("unload")
        self.must(sk.move_line(self.pose((x, y, grasp_z), self.psi_fix)), "reach the part")
        self.in_position()
        self.must(sk.grasp(p.grasp_force_n), "grasp the part")
        self.scene.attach("carried", Box(tuple(p.blank_size_m)), self.tcp_T_blank)
        self.line_or_plan((x, y, L.carry_z), "lift the part", escape_m=self.escape_m)
        self.leave("take the part out")
        self.cell.log_event(None, "unloaded")

    def place_finished(self, k: int) -> None:
        cell, p, sk = self.cell, self.p, self.sk
        by, bz = p.blank_size_m[1], p.blank_size_m[2]
        x, y = (float(v) for v in self.tray_slots[k])
        psi = self.psi_fix + _wrap(self.tray_yaw - self.psi_fix, self.sym)
        top = TRAY_SIZE[2] + bz
        above = top + 0.08
        self.must(self.planned(sk.move_to_pose, self.pose((x, y, above), psi)), "carry the part to the tray")
        self.scene.detach("carried")  # the part goes down onto the tray: the fingers are checked
        self.must(sk.move_line(self.pose((x, y, top - p.grasp_depth_m + 0.002), psi)), "lower the part")
        sk.release(width_m=by + 0.01)
        self.scene.add(Obstacle(f"done{k}", Box(tuple(p.blank_size_m)), (x, y, TRAY_SIZE[2] + bz / 2), _yaw_quat(psi)))
        self.must(sk.move_line(self.pose((x, y, above), psi), escape_m=self.escape_m), "leave the part")
        self.done += 1
        cell.log_event(None, "finished_part", slot=k, x=round(x, 4), y=round(y, 4))
