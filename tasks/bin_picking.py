"""bin-picking: parts lying jumbled in a bin, seen by a fixed RGB-D camera, picked one by one
into a second bin.

The cell (every dimension a parameter; defaults below): a table (1.3 x 1.2 m, top at
``table_z``), a source bin (0.36 x 0.27 m inside, centred at (0.52, -0.22)) and a target bin
(0.32 x 0.24 m inside, at (0.42, 0.28)), open boxes with 0.01 m floor and walls, 0.06 m high
(about the inside of a 400 x 300 mm small-load carrier, VDA 4500 KLT family, with lower walls
than the carrier's 147 mm so that a 0.8 m arm reaches the floor with a tcp pointing down), and
a camera 0.70 m above the table over the source bin, looking straight down (640 x 480, 40 deg
vertical field of view: about 1 mm per pixel on the parts; structured-light bin-picking
sensors work at 0.5-1.5 m). The bins' floors and walls and the table are a planning scene: the
simulator builds them from it and the planner avoids them.

The parts: ``n_objects`` (5-12) boxes and cylinders of several sizes, colours and masses
(``parts``), ``n_identical`` of them one part type (same size and colour), dropped from seeded
heights with seeded orientations into the source bin so that they come to rest touching,
tilted, lying on each other and partly hidden.

The procedure (interfaces only): it captures an RGB-D frame when the arm is out of the camera's
view, localises the parts' tops (`officina.vision.parts.localize_parts`: touching parts split by
depth steps, creases and colour; tilted box faces, cylinder caps and cylinders lying on their
side), adds every perceived part to the planning scene as an obstacle, and picks the best part
it can reach: highest and unhidden first, approaching along the top's normal with the fingers
across the narrow side, opened only as wide as the part needs; a grasp is taken only when its
configuration and its straight approach are collision-free with the walls and the neighbours
(the planner's checker with the planning scene). It lifts the part (attached to the tcp in the
planning scene), carries it over the target bin and drops it into its slot from just above the
rim, and captures the next frame there. The steep faces the camera sees (a part on edge, the
flank of a tilted one) are obstacles too. A part no grasp reaches (out of the arm's reach) or
fits (wider than the gripper opens) is given up at once; a part every grasp of which collides
with the walls or its neighbours is slid clear (``nudge_m``: the closed fingers press on its
top behind its centre, guarded on the wrist sensor, and drag it away from the walls and its
neighbours) and looked at again; a part that could not be grasped, or slid free,
``max_attempts`` times is given up. Every give-up is an event that says why. After a protective
stop the arm backs off and carries on.

Metrics (ground truth, `after_step` and `metrics`): ``success`` (every pickable part in the
target bin), ``pick_success_rate`` (parts delivered / grasp attempts), ``picks_per_hour`` (parts
delivered per hour of simulated time), ``failed_grasps``, ``localisation_error_mm`` and
``_deg`` per pick (the top the procedure localised, from its ``pick`` event, against the true
top of the nearest part when it was logged: its centre, and its plane and edges modulo the top's
symmetry), ``localisation_size_error_mm`` (its extents, which a partly hidden top gets short),
``collisions`` (touches of the arm or gripper with the bins or the table, counted as they begin,
every control period: simulator contact points at most ``TOUCH_M`` apart or carrying a force),
and the run's protective stops.

Industrial anchors: Dex-Net 4.0 (Mahler et al., Science Robotics 2019) reports a reliability
above 95 % at more than 300 mean picks per hour on novel objects in a bin; industrial bin
picking aims at 3-4 s cycles (about 1000 picks per hour per robot). This task's goal: >= 95 %
pick success over 20 seeds per robot, >= 600 picks per hour, no collisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from officina.controllers.planning.planner import PlannerSettings
from officina.controllers.planning.scene import Box, Cylinder, Obstacle, PlanningScene
from officina.controllers.skills import SkillResult, Skills, SkillStatus
from officina.controllers.trajectory import TrajectoryError, plan_cartesian_line
from officina.interfaces import CameraIntrinsics
from officina.tasks.base import (
    Cell, MetricInfo, ProcedureOutcome, StrictParams, TaskDefinition, TaskScene, require_gripper,
)
from officina.vision.parts import (
    LocalizedPart, PartsParams, localize_parts, top_frame, top_frame_error, top_size, top_size_error,
)
from officina.vision.transforms import matrix_to_quat, pose_to_transform

__all__ = ["BinPicking", "BinPickingParams"]

UNREACHABLE_AFTER = 12  # grasp candidates without an IK solution before a part counts as out of reach
WALL_T = 0.01  # wall and floor thickness of both bins [m]
FINGER_HALF_WIDTH_M = 0.014  # half a finger's width across its closing direction, and a margin
# Parts on a plastic floor: turning about a contact normal is resisted by about two thirds of the
# friction coefficient times the contact patch's radius (~1 cm); rolling by a small lever (m).
SPINNING_FRICTION = 0.006
ROLLING_FRICTION = 0.0005
# A contact point of the simulator counts as a touch when the two surfaces are this close (0:
# they meet or overlap), or when it carries a force: PyBullet also keeps points a few millimetres
# apart in its contact manifold (inside its contact-breaking threshold), which are near misses.
TOUCH_M = 0.0
PRESS_SPEED_M_S = 0.005  # the closed fingers come down on a part to be slid this fast
DRAG_SPEED_M_S = 0.05  # and drag it this fast,
PRESS_GAIN = 0.0002  # the tcp moving down (m/s) by this much per newton of the press missing
# A part is pressed on, to be slid, halfway from its top's centre to its trailing edge: a part
# lying on its side is then pressed on its flank, which rolls it along, not on its crest.
PRESS_BACK = 0.5
FINGER_ROOM_M = 0.016  # the closed fingers' half footprint, and a margin


def _range(lo_hi: tuple[float, float], name: str) -> None:
    lo, hi = lo_hi
    if not (0 < lo <= hi):
        raise ValueError(f"{name} must be a range (low, high) with 0 < low <= high")


class PartParams(StrictParams):
    """The mixed parts: boxes (length, width, height drawn from the three ranges) and cylinders
    (diameter from ``width_m``, height from ``height_m``), masses uniform in ``mass_kg``."""

    kinds: list[Literal["box", "cylinder"]] = Field(default_factory=lambda: ["box", "cylinder"], min_length=1)
    length_m: tuple[float, float] = (0.045, 0.075)
    width_m: tuple[float, float] = (0.035, 0.055)
    height_m: tuple[float, float] = (0.025, 0.05)
    mass_kg: tuple[float, float] = (0.05, 0.35)
    friction: float = Field(0.9, gt=0, le=3)

    @model_validator(mode="after")
    def _ranges(self) -> "PartParams":
        for nm in ("length_m", "width_m", "height_m", "mass_kg"):
            _range(getattr(self, nm), nm)
        if self.width_m[1] > 0.06:
            raise ValueError("width_m above 0.06 m does not fit the grippers (max opening 0.08 m, 1 cm each side)")
        return self


class BinPickingParams(StrictParams):
    n_objects: int = Field(8, ge=5, le=12)
    parts: PartParams = PartParams()
    n_identical: int = Field(3, ge=0, le=12)  # how many of the parts are one part type (same size, colour)
    identical_size_m: tuple[float, float, float] = (0.06, 0.035, 0.025)
    identical_mass_kg: float = Field(0.12, gt=0)
    table_z: float = 0.0
    source_center_xy: tuple[float, float] = (0.52, -0.22)
    source_inner_m: tuple[float, float] = (0.36, 0.27)
    target_center_xy: tuple[float, float] = (0.42, 0.28)
    target_inner_m: tuple[float, float] = (0.32, 0.24)
    wall_height_m: float = Field(0.06, gt=0.02, le=0.25)
    drop_center_xy: tuple[float, float] | None = None  # where the parts are dropped (None: the bin's centre)
    drop_size_m: tuple[float, float] = (0.20, 0.15)  # the area they are dropped over
    drop_height_m: tuple[float, float] = (0.04, 0.12)  # above the parts already dropped
    drop_tilt_deg: float = Field(30.0, ge=0, le=90)
    far_part_xy: tuple[float, float] | None = None  # one more part, laid on the source bin's floor here
    camera_height_m: float = Field(0.70, gt=0.3, le=2.0)  # above the table, looking straight down
    camera_fov_deg: float = Field(40.0, gt=10, lt=120)
    camera_size: tuple[int, int] = (640, 480)
    velocity_scale: float = Field(0.9, gt=0, le=1)  # of the robot's joint velocity limits
    acceleration_scale: float = Field(0.9, gt=0, le=1)  # of its acceleration and jerk limits
    effort_fraction: float = Field(0.8, gt=0, le=1)  # of the torque gravity leaves, for the dynamics
    linear_speed_m_s: float = Field(0.4, gt=0, le=1)
    linear_accel_m_s2: float = Field(2.0, gt=0, le=10)
    approach_m: float = Field(0.05, gt=0.01, le=0.3)  # straight approach along the grasp axis
    grasp_depth_m: float = Field(0.015, gt=0.0, le=0.05)  # the tcp this far below the top at most,
    min_grasp_depth_m: float = Field(0.004, ge=0.0, le=0.05)  # and at least (when deeper would collide)
    finger_clearance_m: float = Field(0.008, ge=0.0, le=0.03)  # opening beyond the part, each side
    grasp_force_n: float = Field(30.0, gt=0)
    max_approach_tilt_deg: float = Field(45.0, ge=0, le=60)
    lean_deg: float = Field(20.0, ge=0, le=45)  # the approach leans this far about the closing axis, away from a wall
    max_attempts: int = Field(2, ge=1, le=5)
    nudge_m: float = Field(0.035, ge=0.0, le=0.1)  # how far a part no grasp reaches is slid (0: never)
    nudge_force_n: float = Field(8.0, gt=0, le=40)  # pressing on its top
    padding_m: float = Field(0.004, ge=0.0, le=0.05)  # planning clearance to the scene

    @model_validator(mode="after")
    def _geometry(self) -> "BinPickingParams":
        if self.n_identical > self.n_objects:
            raise ValueError("n_identical must be at most n_objects")
        _range(self.drop_height_m, "drop_height_m")
        if min(self.source_inner_m) < 0.12 or min(self.target_inner_m) < 0.12:
            raise ValueError("source_inner_m and target_inner_m must be at least 0.12 m each way")
        return self


@dataclass
class BinPickingScene(TaskScene):
    """What ``metrics`` reads: the parts, the fixtures, and what ``after_step`` measured."""

    robot_id: int = -1
    fixture_ids: tuple[int, ...] = ()
    far_part: int = -1  # index in objects of the part laid out of reach, or -1
    events: list[dict[str, Any]] = field(default_factory=list)  # the procedure's (the run loop fills it)
    seen_events: int = 0
    touching: set = field(default_factory=set)  # fixtures the robot touches in the last period
    collisions: int = 0
    collision_periods: int = 0
    collision_with: dict = field(default_factory=dict)
    collision_log: list[str] = field(default_factory=list)  # the first few: what touched what, when
    link_names: dict = field(default_factory=dict)  # robot link index -> name
    loc_errors_mm: list[float] = field(default_factory=list)
    loc_errors_deg: list[float] = field(default_factory=list)
    loc_errors_size_mm: list[float] = field(default_factory=list)
    periods: int = 0
    rest_poses: dict = field(default_factory=dict)  # part -> its position at the last rest check


_COLOURS = [(0.85, 0.25, 0.2, 1), (0.2, 0.6, 0.3, 1), (0.2, 0.4, 0.85, 1), (0.9, 0.7, 0.1, 1),
            (0.6, 0.3, 0.7, 1), (0.1, 0.7, 0.7, 1), (0.95, 0.5, 0.15, 1), (0.5, 0.8, 0.2, 1),
            (0.8, 0.4, 0.6, 1), (0.35, 0.25, 0.15, 1), (0.9, 0.9, 0.85, 1), (0.3, 0.3, 0.6, 1)]
_IDENTICAL_COLOUR = (0.55, 0.6, 0.65, 1)


def _bin(name: str, center_xy, inner, wall_h: float, z0: float, t: float = WALL_T) -> list[Obstacle]:
    cx, cy = center_xy
    ix, iy = inner
    return [
        Obstacle(f"{name}_floor", Box((ix + 2 * t, iy + 2 * t, t)), (cx, cy, z0 + t / 2)),
        Obstacle(f"{name}_wall_x+", Box((t, iy + 2 * t, wall_h)), (cx + ix / 2 + t / 2, cy, z0 + wall_h / 2)),
        Obstacle(f"{name}_wall_x-", Box((t, iy + 2 * t, wall_h)), (cx - ix / 2 - t / 2, cy, z0 + wall_h / 2)),
        Obstacle(f"{name}_wall_y+", Box((ix, t, wall_h)), (cx, cy + iy / 2 + t / 2, z0 + wall_h / 2)),
        Obstacle(f"{name}_wall_y-", Box((ix, t, wall_h)), (cx, cy - iy / 2 - t / 2, z0 + wall_h / 2)),
    ]


def _random_quat(rng: np.random.Generator, max_tilt: float) -> tuple[float, float, float, float]:
    """A random yaw, then a tilt of at most ``max_tilt`` about a random horizontal axis."""
    yaw = rng.uniform(-np.pi, np.pi)
    tilt = max_tilt * np.sqrt(rng.uniform())
    axis = rng.uniform(-np.pi, np.pi)
    Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    a = np.array([np.cos(axis), np.sin(axis), 0.0])
    K = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    Rt = np.eye(3) + np.sin(tilt) * K + (1 - np.cos(tilt)) * K @ K
    return tuple(float(v) for v in matrix_to_quat(Rt @ Rz))


def _settle(world, objects, max_s: float = 5.0) -> None:
    """Step until every part is at rest (at most ``max_s`` of simulated time, at least 1 s)."""
    world.step(1000)
    for _ in range(int((max_s - 1.0) / 0.25)):
        moving = [o for o in objects if np.linalg.norm(world.object_velocity(o.body_id)[0]) > 0.002
                  or np.linalg.norm(world.object_velocity(o.body_id)[1]) > 0.05]
        if not moving:
            return
        world.step(250)


def _inside(xy, center, inner, margin: float = 0.0) -> bool:
    return abs(xy[0] - center[0]) < inner[0] / 2 - margin and abs(xy[1] - center[1]) < inner[1] / 2 - margin


def _slots(inner: tuple[float, float], n: int) -> list[tuple[float, float]]:
    """Drop points in the target bin (relative to its centre): a grid of at least n cells."""
    kx = int(np.ceil(np.sqrt(n * inner[0] / inner[1])))
    ky = int(np.ceil(n / kx))
    return [((i + 0.5) * inner[0] / kx - inner[0] / 2, (j + 0.5) * inner[1] / ky - inner[1] / 2)
            for i in range(kx) for j in range(ky)]


# --- what the procedure makes of a perceived part ------------------------------------------------------
def _extent_below(part: LocalizedPart) -> float:
    """How far the part reaches below its top along the top's normal (not seen: bounded by the
    floor, and by the largest part a parallel gripper takes)."""
    return float(np.clip(part.depth_to_floor_m, 0.01, 0.08))


def _obstacle(name: str, part: LocalizedPart) -> Obstacle:
    """A perceived part as an obstacle (world frame), from its top down to the floor."""
    T = part.world_T_top
    if part.top == "side":
        r = part.radius_m
        R = T[:3, :3] @ np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # z along the axis
        c = T[:3, 3] - T[:3, 2] * r
        shape: Any = Cylinder(r, float(part.size_m[0]))
    else:
        d = _extent_below(part)
        c = T[:3, 3] - T[:3, 2] * d / 2
        R = T[:3, :3]
        shape = Cylinder(part.radius_m, d) if part.top == "cap" else Box((*map(float, part.size_m), d))
    return Obstacle(name, shape, tuple(float(v) for v in c), tuple(float(v) for v in matrix_to_quat(R)))


@dataclass(frozen=True)
class Grasp:
    """A grasp of a perceived part: the tcp pose at the grasp (world), the opening before closing,
    the approach distance, and what it is (for the log)."""

    world_T_tcp: np.ndarray
    open_width_m: float
    approach_m: float
    label: str


def _grasps(part: LocalizedPart, p: BinPickingParams, max_open: float, x_pref: np.ndarray) -> list[Grasp]:
    """Candidate grasps, the most natural first. The tcp's z is the approach (into the part), its y
    the direction the fingers close along; of the two tcp frames that differ by a half turn about
    z, the one whose x is nearer ``x_pref`` (no wrist wrap).

    Besides the centred grasp straight along the top's normal, fully deep: the approach leaned
    about the closing axis (the hand away from a wall; the fingers stay on the same two faces),
    the grasp slid along the part (away from what touches one of its ends), shifted along the
    closing axis (one finger meets the part first and pushes it to the other), and shallower
    (fingertips above a neighbour that lies close)."""
    T = part.world_T_top
    n, x, y = T[:3, 2], T[:3, 0], T[:3, 1]
    usable = max_open - 2 * p.finger_clearance_m
    deepest = min(p.grasp_depth_m, 0.6 * _extent_below(part))
    approach = -n
    closings: list[tuple[np.ndarray, float, float, str]] = []  # (closing axis, width, length along the part, name)
    if part.top == "face":
        if part.size_m[1] <= usable:
            closings.append((y, part.size_m[1], part.size_m[0], "across"))
        if part.size_m[0] <= usable:
            closings.append((x, part.size_m[0], part.size_m[1], "along"))
    elif part.top == "cap":
        if 2 * part.radius_m <= usable:
            for k in range(4):
                a = k * np.pi / 4
                closings.append((np.cos(a) * y + np.sin(a) * x, 2 * part.radius_m, 0.0, f"cap{k}"))
    else:  # a cylinder on its side: straight down, the fingers across the axis, down to its axis
        if 2 * part.radius_m <= usable:
            approach = np.array([0.0, 0.0, -1.0])
            closings.append((y, 2 * part.radius_m, part.size_m[0], "side"))
        if part.size_m[0] <= usable:  # or on its two flat ends (along a wall, say)
            approach = np.array([0.0, 0.0, -1.0])
            closings.append((x, part.size_m[0], 2 * part.radius_m, "ends"))
        deepest = min(part.radius_m, max(0.005, _extent_below(part) - 0.006))
    depths = np.linspace(deepest, min(p.min_grasp_depth_m, deepest), 3)
    leans = [0.0] + [s * np.deg2rad(p.lean_deg) for s in (1.0, -1.0) if p.lean_deg > 0]
    shifts = [0.0] + [s * 0.5 * p.finger_clearance_m for s in (1.0, -1.0) if p.finger_clearance_m > 0]
    scored = []
    for ci, (c, width, length, label) in enumerate(closings):
        reach = max(0.0, 0.5 * length - FINGER_HALF_WIDTH_M)  # the finger pads stay on the part
        slides = [0.0] + ([0.7 * reach, -0.7 * reach] if reach > 0.004 else [])
        for lean in leans:
            yc = c - (c @ approach) * approach
            yc /= np.linalg.norm(yc)
            a = _rotate(approach, yc, lean)
            if np.degrees(np.arccos(np.clip(-a[2], -1, 1))) > p.max_approach_tilt_deg:
                continue
            xc = np.cross(yc, a)
            if xc @ x_pref < 0:
                xc, yc = -xc, -yc
            along = np.cross(yc, approach)  # in the top, across the closing axis
            for slide in slides:
                for shift in shifts:
                    for di, depth in enumerate(depths):
                        G = np.eye(4)
                        G[:3, 0], G[:3, 1], G[:3, 2] = xc, yc, a
                        G[:3, 3] = T[:3, 3] + approach * depth + yc * shift + along * slide
                        cost = (0.3 * ci + abs(lean) / max(np.deg2rad(p.lean_deg), 1e-9) + 0.7 * (slide != 0)
                                + 0.5 * (shift != 0) + 0.4 * di)
                        name = (label + (f"/lean{np.degrees(lean):+.0f}" if lean else "")
                                + (f"/slide{slide * 1e3:+.0f}mm" if slide else "")
                                + (f"/shift{shift * 1e3:+.0f}mm" if shift else "") + f"/depth{depth * 1e3:.0f}mm")
                        scored.append((cost, len(scored), Grasp(G, float(min(max_open, width + 2 * p.finger_clearance_m)),
                                                                p.approach_m + depth, name)))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [g for _, _, g in scored]


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """v turned by ``angle`` about the unit ``axis`` (Rodrigues)."""
    return (v * np.cos(angle) + np.cross(axis, v) * np.sin(angle) + axis * (axis @ v) * (1 - np.cos(angle)))


class _Failures:
    """Failed attempts per part, a part known by where its top is (within 2 cm)."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []  # [xyz, failures, given_up]

    def _row(self, xyz) -> list[Any] | None:
        return next((r for r in self.rows if np.linalg.norm(r[0] - xyz) < 0.02), None)

    def count(self, xyz) -> int:
        r = self._row(xyz)
        return 0 if r is None else int(r[1])

    def given_up(self, xyz) -> bool:
        r = self._row(xyz)
        return bool(r is not None and r[2])

    def fail(self, xyz) -> int:
        r = self._row(xyz)
        if r is None:
            r = [np.asarray(xyz, float), 0, False]
            self.rows.append(r)
        r[1] += 1
        return int(r[1])

    def give_up(self, xyz) -> None:
        r = self._row(xyz)
        if r is None:
            self.rows.append([np.asarray(xyz, float), 0, True])
        else:
            r[2] = True


def _recover(sk: Skills, model, up_m: float = 0.05) -> None:
    """After a protective stop: let the arm come to rest, clear the stop, back off upwards."""
    sk.settle(0.2)
    sk.clear_fault()
    T = model.frame_transform(sk.q_command, "tcp")
    T[2, 3] += up_m
    sk.move_line(T, escape_m=0.03)


def _round(v, nd: int = 4) -> list[float]:
    return [round(float(x), nd) for x in np.ravel(v)]


class BinPicking(TaskDefinition):
    name = "bin-picking"
    gripper_kind = "parallel"
    description = "Pick 5-12 jumbled parts from a bin (seen by a fixed RGB-D camera) into a second bin."
    Params = BinPickingParams
    metric_info = {
        "parts_delivered": MetricInfo("", "parts resting in the target bin at the end", "higher", "parts delivered"),
        "parts_pickable": MetricInfo("", "parts the robot should pick (all but the one laid out of reach)", None,
                                     "parts pickable"),
        "pick_success_rate": MetricInfo("", "parts delivered / grasp attempts", "higher", "pick success"),
        "picks_per_hour": MetricInfo("1/h", "parts delivered per hour of simulated time", "higher", "picks/h"),
        "failed_grasps": MetricInfo("", "grasp attempts that did not deliver a part", "lower", "failed grasps"),
        "grasp_attempts": MetricInfo("", "times the gripper closed on a part", None, "grasp attempts"),
        "given_up": MetricInfo("", "parts the procedure gave up on (its events)", None, "given up"),
        "collisions": MetricInfo("", "contacts of the arm or gripper with a bin or the table, counted as they begin",
                                 "lower", "collisions"),
        "localisation_error_mm": MetricInfo("mm", "per pick: the localised top's centre vs the true one", "lower",
                                            "loc. error mm"),
        "localisation_error_deg": MetricInfo("deg", "per pick: the localised top's plane and edges vs the true "
                                             "ones", "lower", "loc. error deg"),
        "localisation_size_error_mm": MetricInfo("mm", "per pick: the localised top's extents vs the true ones "
                                                 "along the same directions", "lower", "loc. size error mm"),
        "localisation_size_error_mm_max": MetricInfo("mm", "largest extent error of the run", "lower",
                                                     "max loc. size error mm"),
        "localisation_error_mm_max": MetricInfo("mm", "largest localisation error of the run", "lower",
                                                "max loc. error mm"),
        "localisation_error_deg_max": MetricInfo("deg", "largest orientation error of the run", "lower",
                                                 "max loc. error deg"),
    }
    key_metrics = ("parts_delivered", "pick_success_rate", "picks_per_hour", "failed_grasps", "collisions",
                   "localisation_error_mm_max", "protective_stops")
    plot_events = ("pick", "placed", "grasp_failed", "give_up")
    video_view = ((1.25, -0.75, 0.85), (0.48, 0.0, 0.05))

    # --- the cell's fixed geometry (data: the simulator and the planner read it) ----------------------
    def planning_scene(self, params: BinPickingParams) -> PlanningScene:
        """The table and both bins (floor and four walls each), poses in the world frame."""
        tz = params.table_z
        return PlanningScene([
            Obstacle("table", Box((1.3, 1.2, 0.05)), (0.35, 0.0, tz - 0.025)),
            *_bin("source", params.source_center_xy, params.source_inner_m, params.wall_height_m, tz),
            *_bin("target", params.target_center_xy, params.target_inner_m, params.wall_height_m, tz),
        ])

    # --- simulation side ---------------------------------------------------------------------------
    def build_scene(self, world, params: BinPickingParams, rng: np.random.Generator) -> BinPickingScene:
        require_gripper(world, self.gripper_kind, "bin-picking",
                        "its parts are 3.5-7.5 cm, smaller than the vacuum gripper's four cups")
        scene = self.planning_scene(params)
        colors = {o.name: (0.3, 0.3, 0.32, 1.0) for o in scene.obstacles}
        colors["table"] = (0.72, 0.6, 0.45, 1.0)
        fixtures = world.add_planning_scene(scene, colors=colors)
        pp = params.parts
        src, inner = params.source_center_xy, params.source_inner_m
        dc = params.drop_center_xy or src
        ds = params.drop_size_m
        floor = params.table_z + WALL_T
        objects = []
        identical = set(int(i) for i in rng.permutation(params.n_objects)[:params.n_identical])
        top = floor
        for i in range(params.n_objects):
            if i in identical:
                kind, size, mass, color = "box", params.identical_size_m, params.identical_mass_kg, _IDENTICAL_COLOUR
            else:
                kind = pp.kinds[int(rng.integers(len(pp.kinds)))]
                size = (float(rng.uniform(*pp.length_m)), float(rng.uniform(*pp.width_m)),
                        float(rng.uniform(*pp.height_m)))
                mass = float(rng.uniform(*pp.mass_kg))
                color = _COLOURS[i % len(_COLOURS)]
            half = 0.5 * (max(size[:2]) if kind == "box" else size[1])
            x = float(dc[0] + rng.uniform(-1, 1) * max(ds[0] / 2 - half, 0.0))
            y = float(dc[1] + rng.uniform(-1, 1) * max(ds[1] / 2 - half, 0.0))
            z = top + float(rng.uniform(*params.drop_height_m)) + 0.5 * max(size)
            quat = _random_quat(rng, np.deg2rad(params.drop_tilt_deg))
            fr = dict(friction=pp.friction, spinning_friction=SPINNING_FRICTION, rolling_friction=ROLLING_FRICTION)
            if kind == "box":
                obj = world.add_box(size, mass, (x, y, z), quat, color=color, name=f"part{i}", **fr)
            else:
                obj = world.add_cylinder(size[1] / 2, size[2], mass, (x, y, z), quat, color=color, name=f"part{i}", **fr)
            objects.append(obj)
            world.step(150)  # one after the other, as from a chute
            top = max(top, max(world.object_pose(o.body_id)[0][2] for o in objects))
        _settle(world, objects)  # the heap comes to rest (the run's clock starts after the scene is built)
        # a part that bounced out of the bin is dropped again near the middle
        for _ in range(5):
            out = [o for o in objects if not _inside(world.object_pose(o.body_id)[0], src, inner)]
            if not out:
                break
            for o in out:
                xy = np.asarray(dc) + rng.uniform(-0.03, 0.03, 2)
                world.reset_object(o.body_id, (float(xy[0]), float(xy[1]), top + 0.08),
                                   _random_quat(rng, np.deg2rad(params.drop_tilt_deg)))
            _settle(world, objects)
        for o in objects:
            world.sleep(o.body_id)
        far = -1
        if params.far_part_xy is not None:
            s = params.identical_size_m
            objects.append(world.add_box(s, params.identical_mass_kg, (*params.far_part_xy, floor + s[2] / 2 + 1e-4),
                                         friction=pp.friction, color=(0.9, 0.9, 0.85, 1), name="far_part"))
            far = len(objects) - 1
            world.step(300)
        robot = world.robots[0]
        return BinPickingScene(objects=objects, fixtures=fixtures, robot_id=robot.body_id,
                               fixture_ids=tuple(f.body_id for f in fixtures), far_part=far,
                               link_names={i: n for n, i in robot.link_index.items()})

    def make_camera(self, world, params: BinPickingParams):
        from officina.sim.camera import SimCamera, look_at

        intr = CameraIntrinsics.from_fov(params.camera_size[0], params.camera_size[1], params.camera_fov_deg)
        cx, cy = params.source_center_xy
        eye = (cx, cy, params.table_z + params.camera_height_m)
        return SimCamera(world.client_id, intr, look_at(eye, (cx, cy, params.table_z), up=(-1.0, 0.0, 0.0)),
                         near=0.05, far=3.0, stamp_fn=lambda: world.time)

    def after_step(self, world, scene: BinPickingScene, params: BinPickingParams, t: float) -> None:
        # contacts of the robot with the fixtures (bins, table), counted as they begin
        points = world.contact_points(scene.robot_id)
        touches = [c for c in points if c.body_b in scene.fixture_ids
                   and (c.distance_m <= TOUCH_M or c.normal_force_n > 0.0)]
        now = {c.body_b for c in touches}
        if now:
            scene.collision_periods += 1
            for f in now - scene.touching:
                scene.collisions += 1
                scene.collision_with[f] = scene.collision_with.get(f, 0) + 1
                if len(scene.collision_log) < 5:
                    c = min((c for c in touches if c.body_b == f), key=lambda c: c.distance_m)
                    fixture = next((o.name for o in scene.fixtures if o.body_id == f), str(f))
                    scene.collision_log.append(
                        f"{scene.link_names.get(c.link_a, str(c.link_a))} touches {fixture} at {t:.3f} s "
                        f"({1e3 * c.distance_m:+.1f} mm, {c.normal_force_n:.1f} N)")
        scene.touching = now
        # a part that has rested for a quarter of a second, untouched by the robot, goes to sleep
        scene.periods += 1
        if scene.periods % 250 == 0:
            held = {c.body_b for c in points}
            for o in scene.objects:
                pos = world.object_pose(o.body_id)[0]
                last = scene.rest_poses.get(o.body_id)
                lin, ang = world.object_velocity(o.body_id)
                if (last is not None and o.body_id not in held and np.linalg.norm(pos - last) < 5e-4
                        and np.linalg.norm(lin) < 2e-3 and np.linalg.norm(ang) < 2e-2):
                    world.sleep(o.body_id)
                scene.rest_poses[o.body_id] = pos
        # what the procedure localised, against the true top of the nearest part
        while scene.seen_events < len(scene.events):
            e = scene.events[scene.seen_events]
            scene.seen_events += 1
            if e.get("event") != "pick" or "top_xyz" not in e:
                continue
            T_est = pose_to_transform(e["top_xyz"], e["top_quat"])
            best = None
            for o in scene.objects:
                pos, quat = world.object_pose(o.body_id)
                T_part = pose_to_transform(pos, quat)
                kind_top, T_true = top_frame(o.kind, o.size, T_part)
                d = float(np.linalg.norm(T_true[:3, 3] - T_est[:3, 3]))
                if best is None or d < best[0]:
                    best = (d, kind_top, T_true, top_size(o.kind, o.size, T_part))
            if best is not None:
                # the orientation of the top's plane and edges; which side is the longer is the
                # extents' business (a partly hidden top may show its short side as the longer)
                d, a = top_frame_error(T_est, best[2], best[1], quarter_turns=True)
                scene.loc_errors_mm.append(1e3 * d)
                scene.loc_errors_deg.append(float(np.degrees(a)))
                if "top_size_m" in e:
                    scene.loc_errors_size_mm.append(1e3 * top_size_error(T_est, e["top_size_m"], best[2], best[3]))

    def metrics(self, world, scene: BinPickingScene, params: BinPickingParams) -> dict[str, Any]:
        tc, ti = params.target_center_xy, params.target_inner_m
        rim = params.table_z + params.wall_height_m
        delivered = 0
        pickable = 0
        where = []
        for i, o in enumerate(scene.objects):
            pos, _ = world.object_pose(o.body_id)
            lin, _ = world.object_velocity(o.body_id)
            in_target = _inside(pos, tc, ti) and params.table_z < pos[2] < rim + 0.03 and float(np.linalg.norm(lin)) < 0.05
            if i != scene.far_part:
                pickable += 1
                delivered += int(in_target)
            where.append("target" if in_target else "source" if _inside(pos, params.source_center_xy,
                                                                          params.source_inner_m) else "elsewhere")
        attempts = sum(1 for e in scene.events if e.get("event") == "grasp")
        t = max(world.time, 1e-9)
        loc_mm, loc_deg = scene.loc_errors_mm, scene.loc_errors_deg
        return {
            "success": delivered == pickable,
            "parts_delivered": delivered,
            "parts_pickable": pickable,
            "grasp_attempts": attempts,
            "pick_success_rate": delivered / attempts if attempts else 0.0,
            "failed_grasps": max(0, attempts - delivered),
            "picks_per_hour": 3600.0 * delivered / t,
            "given_up": sum(1 for e in scene.events if e.get("event") == "give_up"),
            "collisions": scene.collisions,
            "collision_periods": scene.collision_periods,
            "collisions_with": {f.name: scene.collision_with[f.body_id] for f in scene.fixtures
                                if f.body_id in scene.collision_with},
            "collision_log": list(scene.collision_log),
            "localisation_error_mm": [round(v, 3) for v in loc_mm],
            "localisation_error_deg": [round(v, 3) for v in loc_deg],
            "localisation_error_mm_max": max(loc_mm, default=0.0),
            "localisation_error_deg_max": max(loc_deg, default=0.0),
            "localisation_size_error_mm": [round(v, 3) for v in scene.loc_errors_size_mm],
            "localisation_size_error_mm_max": max(scene.loc_errors_size_mm, default=0.0),
            "parts_elsewhere": where.count("elsewhere"),
        }

    # --- the procedure (interfaces only) -----------------------------------------------------------
    def procedure(self, cell: Cell, params: BinPickingParams) -> ProcedureOutcome:
        return _Picker(cell, params, self.planning_scene(params)).run()


class _Picker:
    """The bin-picking procedure over a `Cell` (state of one run)."""

    def __init__(self, cell: Cell, p: BinPickingParams, layout: PlanningScene) -> None:
        self.cell, self.p = cell, p
        self.model = cell.model
        self.scene = (cell.planning_scene if cell.planning_scene is not None else layout).copy()
        self.sk = Skills(cell.arm, cell.gripper, cell.model, cell.tick, rng=cell.rng,
                         velocity_scale=p.velocity_scale, linear_speed_m_s=p.linear_speed_m_s,
                         linear_accel_m_s2=p.linear_accel_m_s2,
                         planning_scene=self.scene, padding_m=p.padding_m, world_T_base=cell.world_T_base,
                         planner_settings=PlannerSettings(velocity_scale=p.velocity_scale,
                                                          acceleration_scale=p.acceleration_scale,
                                                          jerk_scale=p.acceleration_scale),
                         effort_fraction=p.effort_fraction)
        self.base_T_world = np.linalg.inv(cell.world_T_base)
        self.floors = {o.name for o in layout.obstacles if o.name == "table" or o.name.endswith("_floor")}
        self.home = self.model.spec.home
        T_home = self.model.frame_transform(self.home, "tcp")
        self.x_pref = (cell.world_T_base @ T_home)[:3, 0]
        self.max_open = float(cell.gripper.max_width) if cell.gripper is not None else 0.0
        self.floor = p.table_z + WALL_T
        self.rim = p.table_z + p.wall_height_m
        cx, cy = p.source_center_xy
        ix, iy = p.source_inner_m
        e = 0.004
        t = WALL_T
        # the source bin's walls seen from above are fixtures, not parts
        walls = (
            (cx - ix / 2 - t - e, cx - ix / 2 + 0.002, cy - iy / 2 - t - e, cy + iy / 2 + t + e, -1.0, self.rim + e),
            (cx + ix / 2 - 0.002, cx + ix / 2 + t + e, cy - iy / 2 - t - e, cy + iy / 2 + t + e, -1.0, self.rim + e),
            (cx - ix / 2 - t - e, cx + ix / 2 + t + e, cy - iy / 2 - t - e, cy - iy / 2 + 0.002, -1.0, self.rim + e),
            (cx - ix / 2 - t - e, cx + ix / 2 + t + e, cy + iy / 2 - 0.002, cy + iy / 2 + t + e, -1.0, self.rim + e),
        )
        m = 0.03
        self.vision = PartsParams(floor_height_m=self.floor, roi_xy=(cx - ix / 2 - m, cx + ix / 2 + m,
                                                                     cy - iy / 2 - m, cy + iy / 2 + m),
                                  exclude_aabbs=walls)
        self.slots = _slots(p.target_inner_m, p.n_objects + 2)
        self.next_slot = 0
        self.failures = _Failures()
        # the largest part of the catalogue the cell is set up for: a perceived part reaches no
        # farther below its top than that
        self.max_part_m = float(max(p.parts.length_m[1], p.parts.width_m[1], p.parts.height_m[1],
                                    *(p.identical_size_m if p.n_identical else ())))
        self.sides: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # side obstacle -> (low, high) corners
        self.placed = 0
        self.attempts = 0

    def log(self, what: str, **info) -> None:
        self.cell.log_event(None, what, **info)

    def base(self, world_T: np.ndarray) -> np.ndarray:
        return self.base_T_world @ world_T

    # --- perception ---------------------------------------------------------------------------------
    def in_view(self) -> bool:
        """Is the tool over the source bin (between the camera and the parts)?"""
        x0, x1, y0, y1 = self.vision.roi_xy
        m = 0.1
        for frame in ("tcp", "flange"):
            pos = (self.cell.world_T_base @ self.model.frame_transform(self.sk.q_command, frame))[:3, 3]
            if x0 - m < pos[0] < x1 + m and y0 - m < pos[1] < y1 + m:
                return True
        return False

    def clear_view(self) -> None:
        """Out of the camera's view: straight up out of the bin, then over the target bin."""
        sk = self.sk
        if sk.gripper is not None:
            sk.release()
        T = self.cell.world_T_base @ self.model.frame_transform(sk.q_command, "tcp")
        if T[2, 3] < self.rim + 0.08:
            up = T.copy()
            up[2, 3] = self.rim + 0.1
            r = sk.move_line(self.base(up), escape_m=max(0.03, self.rim + 0.03 - T[2, 3]))
            if self._stop(r):
                return
        r = sk.move_to_pose(self.base(self.drop_pose(0.0, 0.0, 0.1)))
        self._stop(r)

    def drop_pose(self, dx: float, dy: float, above_rim: float, turn: float = 0.0) -> np.ndarray:
        """The tcp straight down over the target bin (its centre + (dx, dy)), the home yaw
        turned by ``turn``."""
        p = self.p
        W = np.eye(4)
        yaw = float(np.arctan2(self.x_pref[1], self.x_pref[0])) + turn
        W[:3, :3] = np.array([[np.cos(yaw), np.sin(yaw), 0.0], [np.sin(yaw), -np.cos(yaw), 0.0], [0.0, 0.0, -1.0]])
        W[:3, 3] = (p.target_center_xy[0] + dx, p.target_center_xy[1] + dy, self.rim + above_rim)
        return W

    def perceive(self):
        if self.in_view():
            self.clear_view()
        cam = self.cell.camera
        frame = cam.capture()
        res = localize_parts(frame, cam.intrinsics, cam.extrinsics(), self.vision)
        # what stands higher above the floor than a heap of parts does is not a part (the arm)
        top_z = self.floor + self.p.wall_height_m + 0.05
        parts = [q for q in res.parts if q.height_m < self.p.wall_height_m + 0.05]
        for name in [o.name for o in self.scene.obstacles if o.name.startswith(("part", "side"))]:
            self.scene.remove(name)
        for k, q in enumerate(parts):
            self.scene.add(_obstacle(f"part{k}", q))
        # the steep faces seen (a part standing on edge, the flank of a tilted one) are obstacles
        # too: a box around what is seen of them, down to the floor
        self.sides = {}
        for j, (c, ext) in enumerate(res.sides):
            z1 = float(c[2] + ext[2] / 2)
            if z1 > top_z or z1 - self.floor < self.vision.min_height_m:
                continue
            lo = np.array([c[0] - ext[0] / 2, c[1] - ext[1] / 2, self.floor])
            hi = np.array([c[0] + ext[0] / 2, c[1] + ext[1] / 2, z1])
            self.sides[f"side{j}"] = (lo, hi)
            self.scene.add(Obstacle(f"side{j}", Box(tuple(float(v) for v in np.maximum(hi - lo, 0.004))),
                                    tuple(float(v) for v in 0.5 * (lo + hi))))
        self.log("perceived", n_parts=len(parts), n_sides=len(self.sides), stamp=round(float(frame.stamp), 6))
        return parts

    def own_sides(self, part: LocalizedPart) -> list[str]:
        """The side obstacles that are flanks of this part: below its top and within its outline
        (grown by a centimetre), seen from above."""
        c = part.position
        reach = 0.5 * float(np.hypot(*part.size_m)) + 0.01
        out = []
        for name, (lo, hi) in self.sides.items():
            mid = 0.5 * (lo[:2] + hi[:2])
            if hi[2] <= c[2] + 0.003 and np.linalg.norm(mid - c[:2]) < reach:
                out.append(name)
        return out

    def order(self, parts: list[LocalizedPart]) -> list[int]:
        """Unhidden before hidden, then the highest, then the least tilted."""
        keys = [(q.occluded, -round(q.world_T_top[2, 3], 2), q.tilt_rad) for q in parts]
        return sorted(range(len(parts)), key=lambda k: keys[k])

    # --- grasp planning -----------------------------------------------------------------------------
    def feasible(self, grasp: Grasp, q_hint: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(q at the approach start, q at the grasp) when both are reachable and collision-free
        and the straight approach between them is too; else (None, q at the grasp or None)."""
        sk = self.sk
        sk.checker.gripper_width_m = grasp.open_width_m
        G = self.base(grasp.world_T_tcp)
        r = sk.ik(G, q_hint=q_hint, n_candidates=4)
        if not r.success:
            return None, None
        if not sk.config_clear(r.q) or self.near_fixture(r.q):
            return None, r.q
        P = G.copy()
        P[:3, 3] -= G[:3, 2] * grasp.approach_m
        r0 = sk.ik(P, q_hint=r.q, n_candidates=3)
        if not r0.success or not sk.checker.is_valid(r0.q):
            return None, r.q
        try:
            line = plan_cartesian_line(self.model, r0.q, G, sk.dt, max_speed_m_s=self.p.linear_speed_m_s,
                                       max_accel_m_s2=self.p.linear_accel_m_s2)
        except TrajectoryError:
            return None, r.q
        if not sk.planner.check_trajectory(r0.q, line.q).ok:
            return None, r.q
        return r0.q, r.q

    def near_fixture(self, q: np.ndarray) -> bool:
        """Is the robot at q closer than the padding to a bin's floor or the table? A grasp may
        come that close to a perceived part or a wall (the fingers slip down beside it), not to
        the floor under the part (the fingertips would scrape it)."""
        return any(name in self.floors for c in self.sk.checker.contacts(q)
                   for name in (c.a.removeprefix("obstacle:"), c.b.removeprefix("obstacle:")))

    def choose(self, parts: list[LocalizedPart]):
        """The first part, in order, with a feasible grasp: (index, grasp, q_pre); the parts
        without one are listed in ``blocked``. A part no grasp fits, or that no grasp reaches
        (no IK solution for the first ``UNREACHABLE_AFTER`` candidates), is given up at once:
        sliding it would not help."""
        blocked = []
        for k in self.order(parts):
            q = parts[k]
            if self.failures.given_up(q.position):
                continue
            candidates = _grasps(q, self.p, self.max_open, self.x_pref)
            if not candidates:
                self.give_up(q, "no grasp fits the gripper (the part is wider than its opening every way)")
                continue
            self.scene.remove(f"part{k}")  # the fingers go around it, and its flanks
            flanks = [self.scene.remove(name) for name in self.own_sides(q)]
            found = None
            reached = False
            hint = None  # the last grasp configuration found: the next candidates are close to it
            for i, g in enumerate(candidates):
                q_pre, q_grasp = self.feasible(g, hint)
                if q_pre is not None:
                    found = (k, g, q_pre)
                    break
                reached |= q_grasp is not None
                if not reached and i + 1 >= UNREACHABLE_AFTER:
                    break
                hint = q_grasp if q_grasp is not None else hint
            self.scene.add(_obstacle(f"part{k}", q))
            for o in flanks:
                self.scene.add(o)
            if found is not None:
                return found, blocked
            if not reached:
                self.give_up(q, "out of reach: no inverse-kinematics solution for its grasps")
                continue
            blocked.append(k)
        return None, blocked

    def give_up(self, part: LocalizedPart, reason: str) -> None:
        self.failures.give_up(part.position)
        self.log("give_up", xyz=_round(part.position), kind=part.kind, reason=reason,
                 attempts=self.failures.count(part.position))

    # --- the job ------------------------------------------------------------------------------------
    def run(self) -> ProcedureOutcome:
        sk, p = self.sk, self.p
        r = sk.move_joints(self.home)
        if not r.ok:
            return ProcedureOutcome(False, f"home unreachable: {r.message}")
        sk.release()
        parts = self.perceive()
        max_rounds = (p.n_objects + 1) * (p.max_attempts + 1) + 2
        for _ in range(max_rounds):
            if not [q for q in parts if not self.failures.given_up(q.position)]:
                # no top left to grasp: what the camera sees only as steep faces (a part on edge)
                # is pushed over, and looked at again
                owned = {n for q in parts for n in self.own_sides(q)}
                loose = [n for n in self.sides if n not in owned and not self.failures.given_up(self.sides[n][1])]
                if not loose or p.nudge_m <= 0:
                    break
                name = max(loose, key=lambda n: self.sides[n][1][2])
                lo, hi = self.sides[name]
                n = self.failures.fail(hi)
                self.topple(name, parts)
                if n >= p.max_attempts:
                    self.failures.give_up(hi)
                    self.log("give_up", xyz=_round(hi), kind="unknown", attempts=n,
                             reason="seen only as steep faces (a part on edge), and pushing did not lay it down")
                parts = self.perceive()
                continue
            pick, blocked = self.choose(parts)
            if pick is None and blocked and p.nudge_m > 0:
                # nothing can be grasped as it lies: slide the first blocked part clear, look again
                k = blocked[0]
                n = self.failures.fail(parts[k].position)
                self.nudge(parts, k)
                if n >= p.max_attempts:
                    self.failures.give_up(parts[k].position)
                    self.log("give_up", xyz=_round(parts[k].position), kind=parts[k].kind,
                             reason="no reachable collision-free grasp, even after sliding it", attempts=n)
                parts = self.perceive()
                continue
            if pick is None:
                for k in blocked:
                    q = parts[k]
                    self.failures.give_up(q.position)
                    self.log("give_up", xyz=_round(q.position), kind=q.kind,
                             reason="no reachable collision-free grasp", attempts=self.failures.count(q.position))
                break
            k, grasp, q_pre = pick
            part = parts[k]
            ok = self.pick_and_place(part, k, grasp, q_pre)
            if not ok and self.failures.count(part.position) >= p.max_attempts:
                self.failures.give_up(part.position)
                self.log("give_up", xyz=_round(part.position), kind=part.kind, reason="grasp failed",
                         attempts=self.failures.count(part.position))
            parts = self.perceive()
        sk.move_joints(self.home)
        sk.settle(0.2)
        return ProcedureOutcome(True, details={"placed": self.placed, "attempts": self.attempts})

    def away(self, c: np.ndarray, parts: list[LocalizedPart], skip: int = -1) -> np.ndarray:
        """A horizontal unit direction from ``c`` away from the source bin's walls within 5 cm and
        from the perceived parts within 9 cm (the closer the more); toward the bin's centre when
        nothing is close."""
        p = self.p
        d = np.zeros(2)
        bc, half = np.asarray(p.source_center_xy, float), 0.5 * np.asarray(p.source_inner_m, float)
        for axis in (0, 1):
            d[axis] += float(c[axis] - (bc[axis] - half[axis]) < 0.05) - float((bc[axis] + half[axis]) - c[axis] < 0.05)
        for j, o in enumerate(parts):
            v = c[:2] - o.position[:2]
            dist = float(np.linalg.norm(v))
            if j != skip and 1e-6 < dist < 0.09:
                d += v / dist * (0.09 - dist) / 0.045
        if np.linalg.norm(d) < 1e-6:
            d = bc - c[:2]
        return d / max(np.linalg.norm(d), 1e-9)

    def nudge(self, parts: list[LocalizedPart], k: int) -> None:
        """Slide a part that no grasp reaches (against a wall, hemmed in by its neighbours) by
        ``nudge_m`` away from the walls and the neighbours close to it (`slide`), pressed on
        halfway from its top's centre to its trailing edge (``PRESS_BACK``), no closer to a wall
        than the fingers need."""
        q = parts[k]
        d = self.away(q.position, parts, k)
        T = q.world_T_top
        d3 = np.array([d[0], d[1], 0.0])
        half = abs(d3 @ T[:3, 0]) * q.size_m[0] / 2 + abs(d3 @ T[:3, 1]) * q.size_m[1] / 2
        c = q.position - d3 * PRESS_BACK * half
        # the closed fingers come down no closer than FINGER_ROOM_M to a wall
        bc, inner = np.asarray(self.p.source_center_xy, float), np.asarray(self.p.source_inner_m, float)
        c[:2] = np.clip(c[:2], bc - inner / 2 + FINGER_ROOM_M, bc + inner / 2 - FINGER_ROOM_M)
        self.log("nudge", xyz=_round(q.position), press_xyz=_round(c), direction=_round(d, 3),
                 distance_m=self.p.nudge_m)
        # a part lying on its side rolls under a light touch; pressed hard, it jams against the floor
        self.slide(c, d, [f"part{k}", *self.own_sides(q)], hold_press=q.top != "side")

    def topple(self, name: str, parts: list[LocalizedPart]) -> np.ndarray:
        """Lay down a part the camera sees only as steep faces (on edge, leaning on a wall or a
        neighbour): its highest point is pushed ``nudge_m`` away from the walls and neighbours
        (`slide`). Returns the point pushed."""
        lo, hi = self.sides[name]
        c = np.array([0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), hi[2]])
        d = self.away(c, parts)
        self.log("topple", xyz=_round(c), direction=_round(d, 3), distance_m=self.p.nudge_m)
        self.slide(c, d, [name], hold_press=False)
        return c

    def slide(self, c: np.ndarray, d: np.ndarray, clear: list[str], hold_press: bool = True) -> None:
        """The closed fingers come down on ``c`` until they press on it (a guarded move on the
        wrist sensor), drag it ``nudge_m`` along the horizontal ``d`` still pressing
        (`press_drag`; with ``hold_press`` false, a straight line from where they felt it, which
        barely presses), and go back up; the obstacles ``clear`` (what is pushed) are left out of
        the planning scene. Finger on part grips better than part on floor, so the part follows
        (or, pushed at its top, tips over or rolls)."""
        sk, p = self.sk, self.p
        for name in clear:
            if name in self.scene:
                self.scene.remove(name)
        sk.gripper.close(0.0, p.grasp_force_n)
        sk.checker.gripper_width_m = 0.0
        W = np.eye(4)
        x = np.array([d[0], d[1], 0.0])
        W[:3, 0], W[:3, 1], W[:3, 2] = x, np.cross([0.0, 0.0, -1.0], x), (0.0, 0.0, -1.0)
        W[:3, 3] = c + (0.0, 0.0, 0.04)
        r = sk.move_to_pose(self.base(W))
        if not r.ok:
            self._stop(r)
            return
        down = self.cell.world_T_base[:3, :3].T @ np.array([0.0, 0.0, -1.0])
        wrist = self.cell.wrist
        tare = None if wrist is None else np.asarray(wrist.read().force, float)
        # slowly, so that the arm stops pressing about as hard as asked (a position-controlled arm
        # on a rigid part overshoots the force by its stiffness times the speed times a period)
        r = sk.move_until_contact(down, 0.06, p.nudge_force_n, speed_m_s=PRESS_SPEED_M_S, wrist=wrist)
        if r.ok:
            along = self.cell.world_T_base[:3, :3].T @ np.array([d[0], d[1], 0.0])
            if tare is not None and hold_press:
                r = self.press_drag(along, down, p.nudge_m, p.nudge_force_n, tare)
            else:
                T = self.model.frame_transform(sk.q_command, "tcp")
                T[:3, 3] += along * p.nudge_m
                r = sk.move_line(T, speed_m_s=DRAG_SPEED_M_S, escape_m=p.nudge_m + 0.01)
        if self._stop(r):
            return
        T = self.cell.world_T_base @ self.model.frame_transform(sk.q_command, "tcp")
        T[2, 3] = max(T[2, 3] + 0.04, self.rim + 0.05)
        r = sk.move_line(self.base(T), escape_m=0.03)
        self._stop(r)

    def press_drag(self, along: np.ndarray, down: np.ndarray, distance_m: float, force_n: float,
                   tare: np.ndarray) -> SkillResult:
        """Drag the tcp ``distance_m`` along ``along`` (base frame, unit) while pressing with
        ``force_n`` along ``down``: a hybrid force/position motion. Where the arm holds the point
        at which it felt the part, it no longer presses (a stiff position-controlled arm presses
        by the fraction of a millimetre it lags its command); so every control period the tcp
        advances along ``along`` and moves along ``down`` in proportion to the force missing
        (the wrist sensor, less ``tare``: its reading before the contact), the orientation held
        (damped least squares on the tcp Jacobian)."""
        sk, model, arm = self.sk, self.model, self.cell.arm
        dt = sk.dt
        q = sk.q_command
        n = max(1, int(np.ceil(distance_m / (DRAG_SPEED_M_S * dt))))
        ramp = max(1, int(0.05 / dt))  # 50 ms up to speed, and down
        for k in range(n + ramp):
            speed = DRAG_SPEED_M_S * min(1.0, (k + 1) / ramp, max(0.0, (n + ramp - k) / ramp))
            st = arm.read()
            R = model.frame_transform(st.position, "flange")[:3, :3]
            pressing = float(-(R @ (np.asarray(self.cell.wrist.read().force, float) - tare)) @ down)
            v_down = float(np.clip(PRESS_GAIN * (force_n - pressing), -0.01, 0.01))
            twist = np.concatenate([along * speed + down * v_down, np.zeros(3)])
            J = model.jacobian(q, "tcp")
            qd = J.T @ np.linalg.solve(J @ J.T + 1e-6 * np.eye(6), twist)
            q = q + qd * dt
            arm.command_positions(q, qd)
            self.cell.tick()
            why = arm.fault()
            if why is not None:
                sk.resync()
                return SkillResult(SkillStatus.PROTECTIVE_STOP, why)
        sk.resync()
        return SkillResult(SkillStatus.OK)

    def _stop(self, r) -> bool:
        if r.status == SkillStatus.PROTECTIVE_STOP:
            self.log("protective_stop", reason=r.message)
            _recover(self.sk, self.model)
            return True
        return False

    def pick_and_place(self, part: LocalizedPart, k: int, grasp: Grasp, q_pre: np.ndarray) -> bool:
        sk, p, cell = self.sk, self.p, self.cell
        T = part.world_T_top
        self.log("pick", kind=part.kind, top=part.top, grasp=grasp.label, occluded=part.occluded,
                 tilt_deg=round(float(np.degrees(part.tilt_rad)), 2), top_xyz=_round(T[:3, 3], 5),
                 top_quat=_round(matrix_to_quat(T[:3, :3]), 6), top_size_m=_round(part.size_m, 5))
        target = self.scene.remove(f"part{k}")
        for name in self.own_sides(part):
            self.scene.remove(name)
        cell.gripper.open(grasp.open_width_m)  # the fingers close to the pre-shape on the way
        sk.checker.gripper_width_m = grasp.open_width_m
        G = self.base(grasp.world_T_tcp)
        P = G.copy()
        P[:3, 3] -= G[:3, 2] * grasp.approach_m
        r = sk.move_to_pose(P, q_hint=q_pre)
        if not r.ok:
            self.failures.fail(part.position)
            self.log("skip", reason=r.message)
            self._stop(r)
            return False
        # the last centimetres slowly: a touch there is gentle
        near = G.copy()
        near[:3, 3] -= G[:3, 2] * min(grasp.approach_m, 0.012 + (grasp.approach_m - p.approach_m))
        r = sk.move_line(near)
        if r.ok:
            r = sk.move_line(G, speed_m_s=min(p.linear_speed_m_s, 0.1))
        if not r.ok:
            self.failures.fail(part.position)
            self.log("skip", reason=r.message)
            if not self._stop(r):
                sk.move_line(P, escape_m=0.03)
            return False
        self.attempts += 1
        self.log("grasp", width_m=round(grasp.open_width_m, 4))
        sk.wait_in_position()  # the fingers close where the tool was sent, not on the way there
        g = sk.grasp(p.grasp_force_n)
        if not g.ok:
            self.failures.fail(part.position)
            self.log("grasp_failed", reason=g.message)
            sk.release(width_m=grasp.open_width_m)
            sk.move_line(P, escape_m=0.02)
            return False
        # carried: the part moves with the tcp (checked against the scene, not the fingers)
        tcp_T_part = np.linalg.inv(self.model.frame_transform(sk.q_command, "tcp")) @ self.base_T_world @ target.pose
        self.scene.attach("carried", _clipped(target.shape, self.max_part_m), tcp_T_part)
        # the part leaves the heap straight up, brushing its neighbours if it must: only the bin
        # counts now (the next perception rebuilds the parts)
        for name in [o.name for o in self.scene.obstacles if o.name.startswith(("part", "side"))]:
            self.scene.remove(name)
        hang = float(np.linalg.norm(tcp_T_part[:3, 3])) + 0.5 * _size_of(target.shape)
        # straight up: next to a wall, and with the part brushing its neighbours, the fingers and
        # the part stay within the padding until the lower of them (a tall part hangs below the
        # fingertips) clears the rim (a vertical line along a vertical wall)
        lift = G.copy()
        lift[2, 3] = max(G[2, 3], self.rim + hang + 0.03)
        lowest = min(G[2, 3] - 0.02, max(self.floor, T[2, 3] - _extent_below(part)))
        beside = max(0.03, self.rim + 0.01 - lowest)
        r = sk.move_line(lift, escape_m=beside)
        if not r.ok and r.status != SkillStatus.PROTECTIVE_STOP:
            back = P.copy()
            r = sk.move_line(back, escape_m=beside)
            if r.ok:
                lift = back.copy()
                lift[2, 3] = max(back[2, 3], self.rim + hang + 0.03)
                r = sk.move_line(lift)
        if not r.ok:
            self.scene.detach("carried")
            self.failures.fail(part.position)
            self.log("lift_failed", reason=r.message)
            if not self._stop(r):
                sk.release()
            return False
        if sk.gripper.width() < 0.003:
            self.scene.detach("carried")
            self.failures.fail(part.position)
            self.log("grasp_failed", reason="lost the part while lifting")
            sk.release()
            return False
        # over the target bin, the tcp straight down, dropped from just above the rim
        # the next slot the hand reaches (an arm may not reach one near its base), turned about
        # the vertical if it must
        for i in range(len(self.slots)):
            j = (self.next_slot + i) % len(self.slots)
            sx, sy = self.slots[j]
            for turn in (0.0, np.pi / 2, -np.pi / 2, np.pi):
                r = sk.move_to_pose(self.base(self.drop_pose(sx, sy, hang + 0.02, turn)))
                if r.status != SkillStatus.IK_FAILED:
                    break
            if r.status != SkillStatus.IK_FAILED:
                self.next_slot = j + 1
                break
        if not r.ok:
            self.scene.detach("carried")
            self.failures.fail(part.position)
            self.log("place_unreachable", reason=r.message)
            if not self._stop(r):
                sk.release()
            return False
        self.scene.detach("carried")
        sk.wait_in_position()  # dropped over its slot, not on the way there
        sk.release(width_m=min(self.max_open, sk.gripper.width() + 0.02))  # enough to let go
        self.placed += 1
        self.log("placed", slot=self.placed)
        return True


def _clipped(shape, max_extent: float):
    """The shape with no extent beyond ``max_extent`` (a perceived part's estimated depth)."""
    if isinstance(shape, Box):
        return Box(tuple(float(min(v, max_extent)) for v in shape.size))
    if isinstance(shape, Cylinder):
        return Cylinder(shape.radius, float(min(shape.length, max_extent)))
    return shape


def _size_of(shape) -> float:
    """The diagonal of a shape (its largest extent in any direction)."""
    if isinstance(shape, Box):
        return float(np.linalg.norm(shape.size))
    if isinstance(shape, Cylinder):
        return float(np.hypot(2 * shape.radius, shape.length))
    return 0.1
