"""palletizing: cartons arrive one at a time on an infeed conveyor; the robot stacks them on a EUR
pallet in a pattern given as data.

The cell (world frame = the robot's base frame; the robot stands on a pedestal):

* the floor at ``floor_z`` (default 0.60 m below the robot base: a pedestal as collaborative
  palletizers use, so that the arm reaches the pallet deck and the top of the stack);
* a EUR pallet, 1200 x 800 x 144 mm (EN 13698-1), its long side facing the robot, at
  ``pallet_center_xy``;
* an infeed roller conveyor along world x (belt top at ``belt_z``, 0.50 m above the floor), running
  toward the robot and ending at the pick station: an end stop at ``stop_x``. The belt is
  kinematic: every control period `before_step` drives the carton on it at ``belt_speed_m_s``
  until its leading edge meets the end stop, where the zone stops (as an accumulation conveyor's
  zone stops at its photo-eye). The infeed releases the next carton onto the belt's upstream end
  when the station is clear (the last carton lifted off) and a seeded gap has passed;
* a fixed RGB-D camera above the pick station looking down.

The procedure knows a carton has arrived only from the camera: it localizes the carton on the belt
(`officina.vision.localize_objects`) and takes it as arrived when its leading edge is at the end
stop, whose place is part of the cell layout. The carton's size comes from the order (the
pattern); its pose on the belt is perceived (seeded lateral offset and yaw). It picks the carton
from above with the vacuum gripper (all four cups on the top face), carries it to its place in the
pattern, lowers it to ``release_gap_m`` above its support and vents. The pallet, the conveyor and
the pedestal are a planning scene; each placed carton joins it as an obstacle (so the planner
avoids the stack built so far) and the carried carton rides on the tcp.

The pattern is data (`PatternParams`): a layer layout of (x, y, yaw) carton places in the pallet
frame (default: a block of cartons across the pallet next to a strip of cartons along it, generated
from the carton size and ``gap_m``), stacked ``layers`` high, either in columns (every layer the
same) or interlocked (every other layer mirrored or rotated a half turn, so that joints do not line
up). Every carton's supported area fraction is computed from the pattern (`pallet_plan`); a
pattern that leaves a carton less than 75 % supported, overlaps cartons or overhangs the pallet is
refused. The default carton, 390 x 190 x 200 mm, 3-6 kg, tiles the pallet in 400 x 200 mm
modules with 10 mm gaps (12 per layer).

What carries what: the vacuum gripper's rated force is 471 N (four 50 mm cups at 60 kPa); cartons
must weigh at most a half of that (safety factor 2, the usual rule for horizontal suction with
the load's own accelerations on top) and their top face must hold the whole cup footprint
(0.17 x 0.13 m). 6 kg cartons with the 1 kg gripper are within the payload of the UR10e (12.5 kg)
and the IRB 2600-20 (20 kg), and their weight plus inertia stays below the UR's 150 N protective
stop (the contact monitor knows no payload) away from the arm's singular poses, which the moves
avoid by keeping the arm's IK branch (`same_branch`). Panda (3 kg, 855 mm), iiwa 14 (14 kg, 820 mm) and UR5e
(5 kg, 850 mm) are refused: their parallel grippers open 8 cm (a carton is 19 cm wide) and their
reach does not cover a EUR pallet.

Sources: EUR pallet EN 13698-1 (1200 x 800 x 144 mm); carton modules 600 x 400 / 400 x 200 mm
(ISO 3394 packaging dimensions); collaborative palletizers about 6-8 picks/min at 1 m/s tool speed
(Robotiq palletizing solution guidance), industrial cells 10-18/min; UR e-Series tool speed limit
(safety configuration); NIOSH Applications Manual (1994) coupling classification for the manual
job. Ground truth (metrics only): placement error per carton against the pattern, the stack's
stability (no carton moved more than 5 mm after its release, measured at the end), the supported
area fraction of every placed carton, cartons per minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from officina.controllers.ik import solve_ik
from officina.controllers.model import rpy_to_matrix
from officina.controllers.planning.scene import Box, Obstacle, PlanningScene
from officina.controllers.skills import Skills, SkillStatus
from officina.interfaces import CameraIntrinsics, GraspState
from officina.tasks.base import (
    Cell, MetricInfo, ProcedureOutcome, StrictParams, TaskDefinition, TaskScene, require_gripper,
)
from officina.vision.localize import LocalizeParams, localize_objects

__all__ = ["Palletizing", "PalletizingParams", "PatternParams", "CartonParams", "BoxTarget", "pallet_plan",
           "support_ratios", "same_branch", "EUR_PALLET_M"]

EUR_PALLET_M = (1.2, 0.8, 0.144)  # EN 13698-1
MIN_SUPPORT = 0.75  # each carton's supported area fraction the pattern must keep
VACUUM_SAFETY_FACTOR = 2.0
STABLE_SHIFT_M = 0.005  # a carton that moved more than this after its release makes the stack unstable
END_STOP_H_M = 0.04  # the end stop's height above the belt
HOP_M = 0.15  # how much higher the tcp crosses over when the move at the travel height finds no trajectory


class CartonParams(StrictParams):
    """The cartons of the order: one size (length >= width, height), a seeded mass range."""

    size_m: tuple[float, float, float] = (0.39, 0.19, 0.20)
    mass_kg: tuple[float, float] = (3.0, 6.0)
    friction: float = Field(0.5, gt=0, le=2)  # corrugated board on board or wood, about 0.4-0.6

    @model_validator(mode="after")
    def _check(self) -> "CartonParams":
        L, W, H = self.size_m
        if not (0.05 <= W <= L <= 1.0 and 0.05 <= H <= 0.6):
            raise ValueError("carton size_m: expected (length, width, height) with 0.05 <= width <= length <= 1.0 "
                             "and 0.05 <= height <= 0.6 m")
        lo, hi = self.mass_kg
        if not (0 < lo <= hi):
            raise ValueError("carton mass_kg: expected a range (low, high) with 0 < low <= high")
        return self


class PatternParams(StrictParams):
    """The stacking pattern as data. ``layout``: the places of one layer, (x_m, y_m, yaw_deg) of each
    carton's centre in the pallet frame (origin at the deck's centre, x along the pallet's 1200 mm
    side, yaw of the carton's long side about z), in placement order; None: generated from the
    carton size and ``gap_m``. ``kind``: ``column`` (every layer the same) or ``interlocked``
    (every other layer ``mirror``-ed about the pallet's y axis or ``rotate``-d a half turn)."""

    kind: Literal["column", "interlocked"] = "interlocked"
    layers: int = Field(2, ge=1, le=4)
    interlock: Literal["mirror", "rotate"] = "mirror"
    layout: list[tuple[float, float, float]] | None = None
    gap_m: float = Field(0.01, ge=0.0, le=0.05)
    max_overhang_m: float = Field(0.0, ge=0.0, le=0.05)


class PalletizingParams(StrictParams):
    carton: CartonParams = CartonParams()
    pattern: PatternParams = PatternParams()
    n_boxes: int | None = Field(None, ge=1)  # only the first N places of the pattern (a partial pallet)
    floor_z: float = Field(-0.60, ge=-1.2, le=-0.2)
    pallet_center_xy: tuple[float, float] = (0.0, -0.65)
    pallet_yaw_deg: float = 0.0
    belt_z: float = -0.10
    belt_y: float = 0.0
    stop_x: float = 0.55  # the end stop's face (the pick station's downstream edge)
    belt_length_m: float = Field(1.6, ge=0.8, le=4.0)
    belt_width_m: float = Field(0.40, ge=0.2, le=1.0)
    belt_speed_m_s: float = Field(0.4, gt=0.0, le=1.0)
    infeed_gap_s: tuple[float, float] = (0.2, 1.0)  # seeded wait before the next carton is released
    lateral_jitter_m: float = Field(0.03, ge=0.0, le=0.08)  # carton's seeded offset across the belt
    yaw_jitter_deg: float = Field(4.0, ge=0.0, le=10.0)
    camera_height_m: float = Field(1.0, ge=0.5, le=2.0)  # above the belt
    camera_fov_deg: float = Field(58.0, gt=10, lt=120)
    camera_size: tuple[int, int] = (320, 240)
    velocity_scale: float = Field(0.8, gt=0, le=1)
    max_tcp_speed_m_s: float | None = Field(1.0, gt=0)  # collaborative tool speed; None: no cap
    linear_speed_m_s: float = Field(0.4, gt=0, le=1.5)  # straight approaches and retreats
    linear_accel_m_s2: float = Field(1.0, gt=0, le=10.0)
    approach_m: float = Field(0.10, ge=0.03, le=0.4)  # straight approach above the pick; travel clearance
    pick_gap_m: float = Field(0.001, ge=0.0, le=0.002)  # lips above the perceived top face when the vacuum goes on
    release_gap_m: float = Field(0.006, ge=0.0, le=0.05)  # carton's bottom above its support when vented
    grip_force_n: float | None = Field(None, gt=0)  # vacuum regulated to this holding force (None: rated)
    padding_m: float = Field(0.005, ge=0.0, le=0.05)
    max_attempts: int = Field(2, ge=1, le=5)
    wait_timeout_s: float = Field(20.0, gt=0)
    poll_s: float = Field(0.25, gt=0.0, le=2.0)  # camera polling period while waiting for a carton
    placement_tolerance_mm: float = Field(20.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "PalletizingParams":
        for nm in ("infeed_gap_s",):
            lo, hi = getattr(self, nm)
            if not (0 <= lo <= hi):
                raise ValueError(f"{nm}: expected a range (low, high) with 0 <= low <= high")
        if self.floor_z + EUR_PALLET_M[2] >= self.belt_z:
            raise ValueError("belt_z: expected the belt above the pallet deck")
        plan = pallet_plan(self)  # refuses a pattern that overlaps, overhangs or is not supported
        if self.n_boxes is not None and self.n_boxes > len(plan):
            raise ValueError(f"n_boxes: the pattern has {len(plan)} places, got {self.n_boxes}")
        return self


# --- the pattern as data -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BoxTarget:
    """One place of the pattern: its layer (0 = on the deck), centre and yaw in the pallet frame,
    the centre (world) and yaw (world) of the carton there, and its supported area fraction."""

    index: int
    layer: int
    xy_pallet: tuple[float, float]
    yaw_pallet: float
    position: np.ndarray
    yaw: float
    support_ratio: float

    @property
    def quat(self) -> tuple[float, float, float, float]:
        return (0.0, 0.0, math.sin(self.yaw / 2), math.cos(self.yaw / 2))


def footprint(x: float, y: float, yaw: float, length: float, width: float):
    """The carton's footprint (a shapely polygon) at (x, y) with its long side at ``yaw``."""
    from shapely import affinity
    from shapely.geometry import box

    return affinity.translate(affinity.rotate(box(-length / 2, -width / 2, length / 2, width / 2), yaw,
                                              origin=(0, 0), use_radians=True), x, y)


def support_ratios(rects: list[tuple[float, float, float, float]], size: tuple[float, float, float],
                   deck, z_tol: float = 0.01) -> list[float]:
    """Supported area fraction of each carton of ``rects`` [(x, y, z_bottom, yaw)] (any frame with z
    up): the part of its footprint over the deck polygon ``deck`` (when its bottom is on the deck,
    z 0) or over the tops of cartons whose top is within ``z_tol`` of its bottom."""
    from shapely.ops import unary_union

    L, W, H = size
    prints = [footprint(x, y, yaw, L, W) for x, y, _, yaw in rects]
    out = []
    for i, (x, y, zb, yaw) in enumerate(rects):
        supports = [deck] if abs(zb) < z_tol else []
        supports += [prints[j] for j, r in enumerate(rects) if j != i and abs(r[2] + H - zb) < z_tol]
        if not supports:
            out.append(0.0)
            continue
        area = prints[i].intersection(unary_union(supports)).area
        out.append(float(area / prints[i].area))
    return out


def _generated_layout(params: PalletizingParams) -> list[tuple[float, float, float]]:
    """A block of cartons turned across the pallet next to a strip of cartons along it, in modules
    of carton + gap, centred on the deck; far places (from the robot base) first."""
    L, W, _ = params.carton.size_m
    g = params.pattern.gap_m
    PX, PY, _ = EUR_PALLET_M
    pl, pw = L + g, W + g
    ncol = int(math.floor((PX - L + 1e-9) / pw))  # turned cartons (W along x) left of the strip
    nrow = int(math.floor((PY + g + 1e-9) / pl))  # rows of turned cartons along y
    nstrip = int(math.floor((PY + g + 1e-9) / pw))  # strip cartons (L along x), stacked along y
    if ncol < 0 or nstrip < 1:
        raise ValueError(f"carton {L} x {W} m does not fit the EUR pallet's {PX} x {PY} m deck")
    total_x = ncol * pw + L
    x0 = -total_x / 2
    places = []
    block_y = nrow * pl - g
    for c in range(ncol):
        for r in range(nrow):
            places.append((x0 + c * pw + W / 2, -block_y / 2 + r * pl + L / 2, 90.0))
    strip_y = nstrip * pw - g
    for r in range(nstrip):
        places.append((x0 + ncol * pw + L / 2, -strip_y / 2 + r * pw + W / 2, 0.0))
    return places


def _pallet_T(params: PalletizingParams) -> tuple[np.ndarray, float]:
    """World position of the pallet frame's origin (the deck's centre) and its yaw."""
    cx, cy = params.pallet_center_xy
    return np.array([cx, cy, params.floor_z + EUR_PALLET_M[2]]), math.radians(params.pallet_yaw_deg)


def pallet_plan(params: PalletizingParams) -> list[BoxTarget]:
    """Every place of the pattern, in placement order, with its supported area fraction. Raises
    ValueError (one line) for a pattern with overlapping cartons, an overhang beyond
    ``max_overhang_m`` or a carton less than 75 % supported."""
    from shapely.geometry import box as sbox

    pat = params.pattern
    L, W, H = params.carton.size_m
    PX, PY, _ = EUR_PALLET_M
    generated = pat.layout is None
    layer_a = [(float(x), float(y), math.radians(yaw)) for x, y, yaw in (_generated_layout(params) if generated
                                                                           else pat.layout)]
    if not layer_a:
        raise ValueError("pattern.layout: expected at least one place")
    if pat.interlock == "mirror":
        layer_b = [(-x, y, math.pi - yaw) for x, y, yaw in layer_a]
    else:
        layer_b = [(-x, -y, yaw + math.pi) for x, y, yaw in layer_a]
    origin, pyaw = _pallet_T(params)
    c, s = math.cos(pyaw), math.sin(pyaw)
    deck = sbox(-PX / 2, -PY / 2, PX / 2, PY / 2)
    deck_grown = sbox(-PX / 2 - pat.max_overhang_m - 1e-6, -PY / 2 - pat.max_overhang_m - 1e-6,
                      PX / 2 + pat.max_overhang_m + 1e-6, PY / 2 + pat.max_overhang_m + 1e-6)
    rects = []
    layers = []
    for layer in range(pat.layers):
        places = layer_b if (pat.kind == "interlocked" and layer % 2 == 1) else layer_a
        if generated:  # far places first: the arm never reaches over cartons it has just set down
            places = sorted(places, key=lambda p: -math.hypot(origin[0] + c * p[0] - s * p[1],
                                                               origin[1] + s * p[0] + c * p[1]))
        prints = [footprint(x, y, yaw, L, W) for x, y, yaw in places]
        for i, (pr, (x, y, _)) in enumerate(zip(prints, places)):
            if not deck_grown.contains(pr):
                raise ValueError(f"pattern: the carton at ({x:.3f}, {y:.3f}) m overhangs the pallet "
                                 f"(max_overhang_m {pat.max_overhang_m})")
            for j in range(i):
                if pr.intersection(prints[j]).area > 1e-6:
                    raise ValueError(f"pattern: the cartons at ({x:.3f}, {y:.3f}) and ({places[j][0]:.3f}, "
                                     f"{places[j][1]:.3f}) m overlap")
        for x, y, yaw in places:
            rects.append((x, y, layer * H, yaw))
            layers.append(layer)
    ratios = support_ratios(rects, params.carton.size_m, deck)
    out = []
    for k, ((x, y, zb, yaw), layer, ratio) in enumerate(zip(rects, layers, ratios)):
        if ratio < MIN_SUPPORT:
            raise ValueError(f"pattern: the carton at ({x:.3f}, {y:.3f}) m in layer {layer + 1} is {100 * ratio:.0f} % "
                             f"supported; expected at least {100 * MIN_SUPPORT:.0f} %")
        pos = origin + np.array([c * x - s * y, s * x + c * y, zb + H / 2])
        wyaw = (yaw + pyaw + math.pi / 2) % math.pi - math.pi / 2  # a carton is symmetric under a half turn
        out.append(BoxTarget(k, layer, (x, y), yaw, pos, wyaw, ratio))
    if params.n_boxes is not None:
        out = out[: params.n_boxes]
    return out


# --- the simulated cell ------------------------------------------------------------------------------
@dataclass
class PalletScene(TaskScene):
    """The cartons, their targets and what the conveyor and the ground-truth tracker know."""

    targets: list[BoxTarget] = field(default_factory=list)
    size: tuple[float, float, float] = (0.0, 0.0, 0.0)
    robot_id: int = -1
    spawn: list[tuple[float, float, float]] = field(default_factory=list)  # (y offset, yaw, gap after)
    state: list[str] = field(default_factory=list)  # parked, belt, station, carried, released, rest
    current: int = -1  # the carton on the belt or at the station
    released_next: int = 0  # how many cartons the infeed has released
    release_at: float = 0.0  # when the infeed may release the next carton
    free_periods: list[int] = field(default_factory=list)  # periods without robot contact since lifted
    arrived_t: list[float | None] = field(default_factory=list)
    release_t: list[float | None] = field(default_factory=list)
    rest_pose: list[tuple[np.ndarray, np.ndarray] | None] = field(default_factory=list)


def _yaw_of(quat) -> float:
    x, y, z, w = quat
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _tilt_of(quat) -> float:
    """Angle between the body's z axis and world z (rad)."""
    x, y, z, w = quat
    return math.acos(max(-1.0, min(1.0, 1 - 2 * (x * x + y * y))))


class Palletizing(TaskDefinition):
    name = "palletizing"
    gripper_kind = "vacuum"
    description = ("Stack cartons from an infeed conveyor (seen by a camera) on a EUR pallet in a column or "
                   "interlocked pattern, with a vacuum gripper.")
    Params = PalletizingParams
    metric_info = {
        "boxes_placed": MetricInfo("", "cartons resting within placement_tolerance_mm of their place in the pattern",
                                   "higher", "boxes placed"),
        "boxes_total": MetricInfo("", "places of the pattern to fill", None, "boxes"),
        "placement_error_mm": MetricInfo("mm", "per carton: distance of its centre from its place in the pattern, "
                                         "at the end (null: never released)", "lower", "placement error"),
        "placement_error_max_mm": MetricInfo("mm", "largest placement error of a released carton", "lower",
                                             "max placement error"),
        "stack_stable": MetricInfo("", "no carton moved more than 5 mm between coming to rest after its release "
                                   "and the end", "higher", "stack stable"),
        "max_shift_mm": MetricInfo("mm", "largest move of a carton after it came to rest on the stack", "lower",
                                   "max shift"),
        "support_ratio_min": MetricInfo("", "smallest supported area fraction of a placed carton, from the "
                                        "final poses (>= 0.75 required)", "higher", "min support"),
        "pattern_support_ratio_min": MetricInfo("", "smallest supported area fraction in the pattern as data",
                                                None, "pattern min support"),
        "boxes_per_min": MetricInfo("1/min", "cartons released per minute between the first and the last release",
                                    "higher", "boxes per min"),
    }
    key_metrics = ("boxes_placed", "boxes_per_min", "placement_error_max_mm", "stack_stable", "support_ratio_min")
    plot_events = ("arrived", "picked", "placed")
    video_view = ((1.9, 1.3, 1.2), (0.25, -0.35, -0.35))

    # --- the cell's fixed geometry ------------------------------------------------------------------
    def planning_scene(self, params: PalletizingParams) -> PlanningScene:
        """Floor (6 x 6 m), pedestal (0.35 m square, up to the robot base), EUR pallet (a solid block
        1200 x 800 x 144 mm), conveyor (frame and belt as one block, floor to belt top) and its end
        stop (20 mm plate, 40 mm above the belt); world frame."""
        fz = params.floor_z
        PX, PY, PH = EUR_PALLET_M
        origin, pyaw = _pallet_T(params)
        q_pal = (0.0, 0.0, math.sin(pyaw / 2), math.cos(pyaw / 2))
        belt_h = params.belt_z - fz
        bx = params.stop_x + params.belt_length_m / 2
        return PlanningScene([
            Obstacle("floor", Box((6.0, 6.0, 0.05)), (0.0, 0.0, fz - 0.025)),
            Obstacle("pedestal", Box((0.35, 0.35, -fz)), (0.0, 0.0, fz / 2)),
            Obstacle("pallet", Box((PX, PY, PH)), (origin[0], origin[1], fz + PH / 2), q_pal),
            Obstacle("conveyor", Box((params.belt_length_m, params.belt_width_m, belt_h)),
                     (bx, params.belt_y, fz + belt_h / 2)),
            Obstacle("end_stop", Box((0.02, params.belt_width_m, END_STOP_H_M)),
                     (params.stop_x - 0.01, params.belt_y, params.belt_z + END_STOP_H_M / 2)),
        ])

    def build_scene(self, world, params: PalletizingParams, rng: np.random.Generator) -> PalletScene:
        L, W, H = params.carton.size_m
        require_gripper(world, self.gripper_kind, "palletizing",
                        "for 19 cm cartons, and the reach and payload of a palletizing arm: ur10e, irb2600")
        for robot in world.robots:
            g = robot.spec.gripper
            if g.vacuum is None:
                raise ValueError(f"palletizing: robot {robot.spec.name!r}'s vacuum gripper has no 'vacuum' data "
                                 f"(rated force, cups)")
            rated = g.vacuum.rated_force_n
            m_max = params.carton.mass_kg[1]
            if m_max * 9.81 * VACUUM_SAFETY_FACTOR > rated:
                raise ValueError(f"carton mass_kg up to {m_max} kg: the vacuum gripper holds {rated:.0f} N, "
                                 f"{rated / 9.81 / VACUUM_SAFETY_FACTOR:.1f} kg with safety factor "
                                 f"{VACUUM_SAFETY_FACTOR:g}")
            if W < g.max_width_m:
                raise ValueError(f"carton size_m: the top face ({L} x {W} m) must hold the cups' footprint "
                                 f"({g.max_width_m} m)")
        scene = self.planning_scene(params)
        colors = {"floor": (0.55, 0.56, 0.58, 1.0), "pedestal": (0.25, 0.25, 0.27, 1.0),
                  "pallet": (0.76, 0.6, 0.38, 1.0), "conveyor": (0.3, 0.33, 0.36, 1.0),
                  "end_stop": (0.9, 0.75, 0.1, 1.0)}
        fixtures = world.add_planning_scene(scene, colors=colors)
        targets = pallet_plan(params)
        boxes, spawn = [], []
        for i, _ in enumerate(targets):
            mass = float(rng.uniform(*params.carton.mass_kg))
            dy = float(rng.uniform(-params.lateral_jitter_m, params.lateral_jitter_m))
            dyaw = math.radians(float(rng.uniform(-params.yaw_jitter_deg, params.yaw_jitter_deg)))
            gap = float(rng.uniform(*params.infeed_gap_s))
            spawn.append((dy, dyaw, gap))
            # parked behind the robot until the infeed releases it
            park = (-1.3 - 0.5 * (i // 8), -1.75 + 0.5 * (i % 8), params.floor_z + H / 2 + 1e-4)
            shade = 0.62 + 0.06 * (i % 3)
            boxes.append(world.add_box((L, W, H), mass, park, friction=params.carton.friction,
                                       color=(shade, 0.47, 0.3, 1.0), name=f"carton{i}"))
        n = len(targets)
        world.step(200)
        return PalletScene(objects=boxes, fixtures=fixtures, targets=targets, size=(L, W, H),
                           robot_id=world.robots[0].body_id if world.robots else -1, spawn=spawn,
                           state=["parked"] * n, free_periods=[0] * n, arrived_t=[None] * n,
                           release_t=[None] * n, rest_pose=[None] * n)

    def make_camera(self, world, params: PalletizingParams):
        from officina.sim.camera import SimCamera, look_at

        L = params.carton.size_m[0]
        cx = params.stop_x + L / 2 + 0.1
        eye = (cx, params.belt_y, params.belt_z + params.camera_height_m)
        intr = CameraIntrinsics.from_fov(params.camera_size[0], params.camera_size[1], params.camera_fov_deg)
        return SimCamera(world.client_id, intr, look_at(eye, (cx, params.belt_y, params.belt_z), up=(-1.0, 0.0, 0.0)),
                         near=0.05, far=3.0, stamp_fn=lambda: world.time)

    # --- the conveyor (the infeed's own logic: it may read the simulator) ------------------------------
    def before_step(self, world, scene: PalletScene, params: PalletizingParams, t: float) -> None:
        L, W, H = scene.size
        if scene.current < 0:
            i = scene.released_next
            if i < len(scene.objects) and t >= scene.release_at:
                dy, dyaw, _ = scene.spawn[i]
                x = params.stop_x + params.belt_length_m - L / 2 - 0.05
                world.set_object_pose(scene.objects[i].body_id, (x, params.belt_y + dy, params.belt_z + H / 2 + 5e-4),
                                      (0.0, 0.0, math.sin(dyaw / 2), math.cos(dyaw / 2)))
                scene.state[i] = "belt"
                scene.current = i
                scene.released_next += 1
            return
        i = scene.current
        bid = scene.objects[i].body_id
        pos, quat = world.object_pose(bid)
        if scene.state[i] == "belt":
            yaw = _yaw_of(quat)
            lead = pos[0] - (abs(math.cos(yaw)) * L / 2 + abs(math.sin(yaw)) * W / 2)
            if lead > params.stop_x + 5e-4:
                lin, _ = world.object_velocity(bid)
                world.set_object_velocity(bid, (-params.belt_speed_m_s, 0.0, min(0.0, float(lin[2]))))
            else:
                world.set_object_velocity(bid)
                scene.state[i] = "station"
                scene.arrived_t[i] = t
        elif pos[2] > params.belt_z + H / 2 + 0.02:  # lifted off the station: the zone is clear
            scene.state[i] = "carried"
            scene.current = -1
            scene.release_at = t + scene.spawn[i][2]

    def after_step(self, world, scene: PalletScene, params: PalletizingParams, t: float) -> None:
        for i, st in enumerate(scene.state):
            if st == "carried":
                bid = scene.objects[i].body_id
                if world.touching(bid, scene.robot_id):
                    scene.free_periods[i] = 0
                else:
                    scene.free_periods[i] += 1
                    if scene.free_periods[i] >= 10:  # 10 periods without the gripper: let go
                        scene.state[i] = "released"
                        scene.release_t[i] = t
            elif st == "released":
                bid = scene.objects[i].body_id
                lin, ang = world.object_velocity(bid)
                if (np.linalg.norm(lin) < 0.005 and np.linalg.norm(ang) < 0.05) or t - scene.release_t[i] > 2.0:
                    scene.rest_pose[i] = world.object_pose(bid)
                    scene.state[i] = "rest"

    def tracked_objects(self, scene: PalletScene):
        return list(scene.objects)

    # --- metrics (ground truth) ------------------------------------------------------------------------
    def metrics(self, world, scene: PalletScene, params: PalletizingParams) -> dict[str, Any]:
        from shapely.geometry import box as sbox

        L, W, H = scene.size
        tol = params.placement_tolerance_mm
        errors: list[float | None] = []
        placed = 0
        shifts = []
        final = []
        for i, (obj, tgt) in enumerate(zip(scene.objects, scene.targets)):
            pos, quat = world.object_pose(obj.body_id)
            final.append((pos, quat))
            if scene.release_t[i] is None:
                errors.append(None)
                continue
            err = float(np.linalg.norm(pos - tgt.position)) * 1e3
            dyaw = abs((_yaw_of(quat) - tgt.yaw + math.pi / 2) % math.pi - math.pi / 2)
            errors.append(round(err, 2))
            if err <= tol and dyaw <= math.radians(5.0) and _tilt_of(quat) < math.radians(3.0):
                placed += 1
            if scene.rest_pose[i] is not None:
                shifts.append(float(np.linalg.norm(pos - scene.rest_pose[i][0])))
        # supported area fraction of every released carton, from where it is now (pallet frame)
        origin, pyaw = _pallet_T(params)
        c, s = math.cos(pyaw), math.sin(pyaw)
        rects, idx = [], []
        for i, (pos, quat) in enumerate(final):
            if scene.release_t[i] is None:
                continue
            d = pos - origin
            x, y = c * d[0] + s * d[1], -s * d[0] + c * d[1]
            zb = d[2] - H / 2 if _tilt_of(quat) < math.radians(5.0) else float("nan")
            rects.append((x, y, zb, _yaw_of(quat) - pyaw))
            idx.append(i)
        PX, PY, _ = EUR_PALLET_M
        ratios = support_ratios(rects, scene.size, sbox(-PX / 2, -PY / 2, PX / 2, PY / 2), z_tol=0.015) if rects else []
        rel = sorted(t for t in scene.release_t if t is not None)
        if len(rel) >= 2:
            per_min = 60.0 * (len(rel) - 1) / (rel[-1] - rel[0])
        elif rel:
            per_min = 60.0 / rel[0]
        else:
            per_min = 0.0
        stable = bool(shifts) and max(shifts) <= STABLE_SHIFT_M
        support_min = float(min(ratios)) if ratios else 0.0
        n = len(scene.targets)
        released = sum(t is not None for t in scene.release_t)
        return {
            "success": bool(placed == n and released == n and stable and support_min >= MIN_SUPPORT),
            "boxes_placed": placed,
            "boxes_total": n,
            "placement_error_mm": errors,
            "placement_error_max_mm": max((e for e in errors if e is not None), default=None),
            "stack_stable": stable,
            "max_shift_mm": round(1e3 * max(shifts), 3) if shifts else None,
            "support_ratio_min": round(support_min, 4),
            "pattern_support_ratio_min": round(min(t.support_ratio for t in scene.targets), 4),
            "boxes_per_min": round(per_min, 3),
        }

    # --- the same job by hand ----------------------------------------------------------------------------
    def manual_job(self, params: PalletizingParams):
        """A worker takes each carton off the end of the conveyor and sets it on the pallet. Assumed:
        the worker faces the conveyor's end to lift (hands 0.20 m beyond the toes' line plus half the
        carton's width from the ankles, no twist), carries the carton to the pallet side nearest its
        place and sets it down facing the pallet (hands 0.15 m from the ankles plus the place's
        distance from that pallet edge: the worst place of the layer); hands at the carton's
        mid-height; one kind of lift per layer; cartons without handholds of optimal size (NIOSH:
        fair coupling); control at the destination (a place in a pattern)."""
        from officina.exoskeleton.job import HandLocation, ManualJob, Move

        L, W, H = params.carton.size_m
        PX, PY, PH = EUR_PALLET_M
        fz = params.floor_z
        targets = pallet_plan(params)
        origin, _ = _pallet_T(params)
        station = np.array([params.stop_x + L / 2, params.belt_y])
        v_origin = params.belt_z - fz + H / 2
        h_origin = 0.20 + W / 2
        moves = []
        for layer in sorted({t.layer for t in targets}):
            tl = [t for t in targets if t.layer == layer]
            edge = max(min(PX / 2 - abs(t.xy_pallet[0]), PY / 2 - abs(t.xy_pallet[1])) for t in tl)
            carry = float(np.mean([np.linalg.norm(t.position[:2] - station) for t in tl]))
            moves.append(Move(
                name=f"carton to layer {layer + 1}",
                load_kg=params.carton.mass_kg[1],
                mean_load_kg=float(np.mean(params.carton.mass_kg)),
                origin=HandLocation(h_origin, v_origin, 0.0),
                destination=HandLocation(min(0.15 + edge, 0.63), PH + layer * H + H / 2, 0.0),
                count_per_cycle=len(tl),
                coupling="fair",
                carry_m=round(carry, 3),
                control_at_destination=True,
            ))
        del origin
        return ManualJob(self.name, tuple(moves), assumptions=(
            "lift at the conveyor's end: hands 0.20 m beyond the toes plus half the carton's width from the "
            "ankles, no twist, at the carton's mid-height",
            "carry to the pallet side nearest the place; set down facing the pallet, hands 0.15 m plus the "
            "place's distance from that edge (the worst place of the layer)",
            f"floor {-fz:.2f} m below the robot base; conveyor top {params.belt_z - fz:.2f} m above the floor",
            "load: the heaviest carton of the mass range; coupling fair (no handholds); control at the destination",
        ))

    # --- the procedure (interfaces only) ---------------------------------------------------------------
    def procedure(self, cell: Cell, params: PalletizingParams) -> ProcedureOutcome:
        return _Palletizer(cell, params).run()


def _tcp_down(x: float, y: float, z: float, psi: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = rpy_to_matrix((0.0, 0.0, psi)) @ np.diag([1.0, -1.0, -1.0])
    T[:3, 3] = (x, y, z)
    return T


def _box_T(pos, yaw: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = rpy_to_matrix((0.0, 0.0, yaw))
    T[:3, 3] = pos
    return T


def same_branch(model, q0, q1) -> bool:
    """Whether ``q1`` is on ``q0``'s branch of a 6-axis arm's inverse kinematics: the Jacobian's
    determinant keeps its sign (a shoulder, elbow or wrist flip changes it; a 7-axis arm's is not
    checked) and no joint but the flange's rotation (the last, free to turn) turns more than a
    half turn (two flips at once)."""
    q0, q1 = np.asarray(q0, float), np.asarray(q1, float)
    J0, J1 = model.jacobian(q0, "tcp"), model.jacobian(q1, "tcp")
    flip = J0.shape[0] == J0.shape[1] and np.linalg.det(J0) * np.linalg.det(J1) <= 0
    return bool(not flip and np.max(np.abs(q1[:-1] - q0[:-1])) <= math.pi)


# a move that may succeed by another route (not a bad goal, not a stop)
_REPLAN = (SkillStatus.PLANNING_FAILED,)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


class _Palletizer:
    """The procedure's state: the skills, the planning scene with the stack so far, the pattern."""

    def __init__(self, cell: Cell, params: PalletizingParams) -> None:
        self.cell, self.p = cell, params
        self.model = cell.model
        self.scene = (cell.planning_scene if cell.planning_scene is not None else
                      Palletizing().planning_scene(params)).copy()
        self.sk = Skills(cell.arm, cell.gripper, self.model, cell.tick, rng=cell.rng,
                         velocity_scale=params.velocity_scale, linear_speed_m_s=params.linear_speed_m_s,
                         planning_scene=self.scene, padding_m=params.padding_m, world_T_base=cell.world_T_base,
                         max_tcp_speed_m_s=params.max_tcp_speed_m_s, linear_accel_m_s2=params.linear_accel_m_s2)
        self.base_T_world = np.linalg.inv(cell.world_T_base)
        self.size = params.carton.size_m
        self.targets = pallet_plan(params)
        T_home = self.model.frame_transform(self.model.spec.home, "tcp")
        self.psi_ref = float(math.atan2(T_home[1, 0], T_home[0, 0]))
        L, W, H = self.size
        x_mid = params.stop_x + L / 2
        self.bounds = (params.stop_x + 0.004, params.stop_x + params.belt_length_m,
                       params.belt_y - params.belt_width_m / 2, params.belt_y + params.belt_width_m / 2)
        # beside the station, out of the camera's view of the belt, on the pallet's side
        self.wait_pose = _tcp_down(x_mid, params.belt_y - params.belt_width_m / 2 - 0.25,
                                   params.belt_z + H + params.approach_m + 0.1, 0.0)
        self.at_wait = False
        self.stack_top = float(_pallet_T(params)[0][2])  # the deck, then the highest carton top placed
        self.events = cell.log_event

    def base(self, T_world: np.ndarray) -> np.ndarray:
        return self.base_T_world @ T_world

    def tcp_world(self) -> np.ndarray:
        return self.cell.world_T_base @ self.model.frame_transform(self.sk.q_command, "tcp")

    def tcp_psi(self) -> float:
        T = self.tcp_world()
        return float(math.atan2(T[1, 0], T[0, 0]))

    # --- perception: the camera as the station's light barrier ---------------------------------------
    def perceive(self):
        """The carton at the end stop, or None (no carton seen, or one still on its way)."""
        p = self.p
        cam = self.cell.camera
        frame = cam.capture()
        objs = localize_objects(frame, cam.intrinsics, cam.extrinsics(),
                                LocalizeParams(table_height_m=p.belt_z, xy_bounds=self.bounds, min_pixels=100))
        L, W, H = self.size
        boxes = [o for o in objs if o.kind == "box" and abs(o.size_m[0] - L) < 0.04 and abs(o.size_m[1] - W) < 0.04]
        if not boxes:
            return None
        o = min(boxes, key=lambda b: b.position[0])
        lead = o.position[0] - (abs(math.cos(o.yaw_rad)) * L / 2 + abs(math.sin(o.yaw_rad)) * W / 2)
        return o if lead <= p.stop_x + 0.015 else None

    def wait_for_carton(self):
        """Poll the camera until a carton stands at the end stop (the arm beside the station)."""
        t0 = self.cell.now()
        while True:
            o = self.perceive()
            if o is not None:
                return o
            if not self.at_wait:
                r = self.go(self.wait_pose, self.clear_z(self.p.belt_z + self.size[2]))
                if not r.ok:
                    return None
                self.at_wait = True
                continue
            if self.cell.now() - t0 > self.p.wait_timeout_s:
                return None
            self.sk.settle(self.p.poll_s)

    # --- motions with the protective stop handled ---------------------------------------------------
    def move(self, fn):
        r = fn()
        if r.status == SkillStatus.PROTECTIVE_STOP:
            self.events(None, "protective_stop", reason=r.message)
            self.sk.settle(0.2)
            self.sk.clear_fault()
            T = self.model.frame_transform(self.sk.q_command, "tcp")
            T[2, 3] += 0.03
            self.sk.move_line(T, escape_m=0.03)
            r = fn()
        return r

    def vacuum_on(self, timeout_s: float = 0.4) -> bool:
        g = self.cell.gripper
        g.close(0.0, self.p.grip_force_n)
        for _ in range(max(1, int(round(timeout_s / self.sk.dt)))):
            self.cell.arm.command_positions(self.sk.q_command)
            self.cell.tick()
            if g.grasp_state() == GraspState.HOLDING:
                return True
        return False

    def vent(self, timeout_s: float = 0.3) -> None:
        """Blow off and wait until the vacuum switch no longer reads a held part (then 20 ms more)."""
        g = self.cell.gripper
        g.open()
        for _ in range(max(1, int(round(timeout_s / self.sk.dt)))):
            self.cell.arm.command_positions(self.sk.q_command)
            self.cell.tick()
            if g.grasp_state() != GraspState.HOLDING:
                break
        self.sk.settle(0.02)

    # --- one carton ------------------------------------------------------------------------------------
    def pick(self, o) -> np.ndarray | None:
        """Pick the perceived carton; returns tcp_T_carton, or None."""
        p = self.p
        L, W, H = self.size
        top = float(o.position[2] + o.size_m[2] / 2)
        center = np.array([o.position[0], o.position[1], top - H / 2])
        # the gripper's long side along the carton's, the half turn closest to the wrist's present yaw
        psi = o.yaw_rad + math.pi * round((self.tcp_psi() - o.yaw_rad) / math.pi)
        x, y = float(center[0]), float(center[1])
        self.scene.add(Obstacle("station_carton", Box(self.size), tuple(center),
                                (0.0, 0.0, math.sin(o.yaw_rad / 2), math.cos(o.yaw_rad / 2))))
        r = self.go(_tcp_down(x, y, top + p.approach_m, psi), self.clear_z(top))
        self.scene.remove("station_carton")
        self.at_wait = False
        if not r.ok:
            self.events(None, "pick_unreachable", reason=r.message)
            return None
        r = self.move(lambda: self.sk.move_line(self.base(_tcp_down(x, y, top + p.pick_gap_m, psi))))
        if not r.ok:
            self.events(None, "pick_blocked", reason=r.message)
            return None
        held = self.vacuum_on()
        tcp_T_box = np.linalg.inv(self.tcp_world()) @ _box_T(center, o.yaw_rad)
        r = self.move(lambda: self.sk.move_line(self.base(_tcp_down(x, y, top + p.approach_m, psi)), escape_m=0.02))
        if not held or self.cell.gripper.grasp_state() != GraspState.HOLDING:
            self.cell.gripper.open()
            self.events(None, "grasp_failed", held=held)
            return None
        self.events(None, "picked", x=round(x, 4), y=round(y, 4), yaw_deg=round(math.degrees(o.yaw_rad), 2))
        return tcp_T_box

    def reachable(self, T_world: np.ndarray) -> bool:
        """Whether IK finds the tcp pose (world) from the present command or home (a generator of
        its own, so that asking does not change the procedure's random stream)."""
        rng = np.random.default_rng(0)
        for s0 in (self.sk.q_command, np.asarray(self.model.spec.home, float)):
            r = solve_ik(self.model, self.base(T_world), "tcp", s0, rng=rng, max_restarts=10,
                         posture=self.model.spec.home, posture_gain=0.05)
            if r.success:
                return True
        return False

    def clear_z(self, layer_top: float = -math.inf) -> float:
        """The height the carried carton's bottom or the empty cups travel at when the direct way
        is blocked: ``approach_m`` above the belt's end stop, the stack so far and ``layer_top``."""
        return max(self.p.belt_z + END_STOP_H_M, self.stack_top, layer_top) + self.p.approach_m

    def branch_ik(self, T_world: np.ndarray) -> np.ndarray | None:
        """A collision-free joint configuration for the tcp pose (world) on the arm's present branch
        (no joint turning more than a half turn from the present command), or None. Carrying a
        carton, the arm changes branch only through its singular poses (stretched up over its
        base, the wrist aligned), where the carton's weight, which the contact monitor does not
        know, reads as a large force at the tcp."""
        sk, m = self.sk, self.model
        T = self.base(T_world)
        q0 = np.asarray(sk.q_command, float)
        # first from the present configuration turned on the base toward the goal (the arm's
        # branch kept, so IK converges on it), then from the present one, then the skills' search
        here = m.frame_transform(q0, "tcp")[:3, 3]
        turned = q0.copy()
        turned[0] = np.clip(q0[0] + _wrap(math.atan2(T[1, 3], T[0, 3]) - math.atan2(here[1], here[0])),
                            m.limits.lower[0], m.limits.upper[0])
        rng = np.random.default_rng(0)  # a generator of its own: the procedure's stream unchanged

        def tries():
            for s0 in (turned, q0):
                yield solve_ik(m, T, "tcp", s0, rng=rng, max_restarts=0)
            yield sk.ik(T)

        return next((r.q for r in tries() if r.success and sk.config_clear(r.q) and same_branch(m, q0, r.q)), None)

    def go(self, T_goal: np.ndarray, z_travel: float):
        """The tcp to ``T_goal`` (world): along the joint-space line when it is free; otherwise (or
        when its timed trajectory grazes an obstacle) straight up to ``z_travel`` (tcp height,
        world), across at that height and straight down, as a palletizer moves over its stack
        (planned around obstacles only if that is blocked too); across ``HOP_M`` higher when the
        move across at ``z_travel`` finds no collision-free trajectory; planned to ``T_goal`` itself
        when the arm cannot reach above it at the travel height on its present branch (close to
        its base) or nothing else worked. Goals are taken on the arm's branch (`branch_ik`) when
        it has one there."""
        sk = self.sk
        q_goal = self.branch_ik(T_goal)
        q_line = q_goal
        if q_line is None:  # the goal only on another branch: the joint line is the shortest way there
            r = sk.ik(self.base(T_goal))
            q_line = r.q if r.success else None
        if q_line is not None and sk.planner is not None and sk.planner.segment_free(sk.q_command, q_line):
            res = self.move(lambda: sk.move_joints(q_line))
            if res.ok or res.status not in _REPLAN:
                return res
        res = None
        for hop in (0.0, HOP_M):
            z = z_travel + hop
            T_up = self.tcp_world()
            if T_up[2, 3] < z - 1e-3:
                T_up[2, 3] = z
                res = self.move(lambda: sk.move_line(self.base(T_up)))
                if not res.ok:
                    return res
            T_high = T_goal.copy()
            T_high[2, 3] = max(T_goal[2, 3], z)
            q_high = self.branch_ik(T_high)
            if q_high is None:
                break  # no pose there on the arm's branch (near the base the carton meets the upper arm)
            res = self.move(lambda: sk.move_to_pose(self.base(T_high), q_hint=q_high))
            if res.ok:
                if T_high[2, 3] > T_goal[2, 3] + 1e-6:
                    res = self.move(lambda: sk.move_line(self.base(T_goal)))
                    if res.status in _REPLAN:  # no straight way down (out of reach on the way)
                        q_down = self.branch_ik(T_goal)
                        res = self.move(lambda: sk.move_to_pose(self.base(T_goal), q_hint=q_down))
                return res
            if res.status == SkillStatus.IK_FAILED and T_high[2, 3] > T_goal[2, 3] + 1e-6:
                break  # too high to reach there (close to the base): planned to the goal itself
            if res.status not in _REPLAN:
                return res
        return self.move(lambda: sk.move_to_pose(self.base(T_goal), q_hint=q_goal))

    def place(self, k: int, tgt: BoxTarget, tcp_T_box: np.ndarray) -> bool:
        p = self.p
        H = self.size[2]
        # the carton is symmetric under a half turn: the one that turns the wrist least first, the
        # other when the arm finds no pose for it; and the approach from approach_m above the
        # layer's tops, lower (down to a quarter of it) where the arm cannot reach that high with
        # the tool down (the IRB 2600 at the places next to its base)
        box_yaw_in_tcp = math.atan2(tcp_T_box[1, 0], tcp_T_box[0, 0])
        psi_now = self.tcp_psi()
        yaws = sorted((tgt.yaw, tgt.yaw + math.pi), key=lambda a: abs(_wrap(a - box_yaw_in_tcp - psi_now)))
        bottom = float(tgt.position[2] - H / 2)

        def poses(yaw: float, clearance: float):
            T_rest = _box_T(tgt.position, yaw) @ np.linalg.inv(tcp_T_box)
            T_release = T_rest.copy()
            T_release[2, 3] += p.release_gap_m
            # straight down into the place from where the carton's bottom clears its layer's tops
            T_above = T_rest.copy()
            T_above[2, 3] += H + clearance
            return T_rest, T_release, T_above

        options = [(a, c) for c in (p.approach_m, p.approach_m / 2, p.approach_m / 4) for a in yaws]
        yaw, clearance = next((o for o in options if all(self.reachable(T) for T in poses(*o)[1:])), options[0])
        T_rest, T_release, T_above = poses(yaw, clearance)
        self.scene.attach("carried", Box(self.size), tcp_T_box)
        r = self.go(T_above, self.clear_z(bottom + H) + (T_rest[2, 3] - bottom))
        if r.ok:
            r = self.move(lambda: self.sk.move_line(self.base(T_release)))
        T_retreat = T_release.copy()
        T_retreat[2, 3] += p.approach_m
        self.scene.detach("carried")
        if not r.ok:
            self.events(None, "place_failed", slot=k, reason=r.message)
            return False
        if self.cell.gripper.grasp_state() != GraspState.HOLDING:  # the vacuum switch dropped on the way
            self.cell.gripper.open()
            self.events(None, "dropped", slot=k)
            return False
        self.vent()
        self.scene.add(Obstacle(f"placed{k}", Box(self.size), tuple(float(v) for v in tgt.position),
                                (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))))
        self.stack_top = max(self.stack_top, float(tgt.position[2] + H / 2))
        self.events(None, "placed", slot=k, layer=tgt.layer + 1)
        self.move(lambda: self.sk.move_line(self.base(T_retreat), escape_m=0.03))
        return True

    def run(self) -> ProcedureOutcome:
        cell, p = self.cell, self.p
        if cell.gripper is None or cell.camera is None:
            return ProcedureOutcome(False, "palletizing needs a gripper and the station camera")
        self.sk.move_joints(self.model.spec.home)
        cell.gripper.open()
        placed = 0
        for k, tgt in enumerate(self.targets):
            for attempt in range(p.max_attempts):
                o = self.wait_for_carton()
                if o is None:
                    return ProcedureOutcome(False, f"no carton at the station within {p.wait_timeout_s} s",
                                            {"placed": placed})
                self.events(None, "arrived", slot=k, x=round(float(o.position[0]), 4),
                            y=round(float(o.position[1]), 4))
                tcp_T_box = self.pick(o)
                if tcp_T_box is not None:
                    break
            else:
                return ProcedureOutcome(False, f"carton {k}: not picked in {p.max_attempts} attempts",
                                        {"placed": placed})
            if not self.place(k, tgt, tcp_T_box):
                return ProcedureOutcome(False, f"carton {k}: could not be placed", {"placed": placed})
            placed += 1
        self.go(self.wait_pose, self.clear_z(self.p.belt_z + self.size[2]))
        self.sk.settle(0.5)
        return ProcedureOutcome(True, details={"placed": placed})
