"""peg-in-hole: take a peg from its holder and insert it into a chamfered hole whose fixture is
placed only to within a few millimetres and degrees, by force control and a spiral search.

The cell: a holder (a nest with a square pocket) at a known place presents the peg standing
upright, as a part feeder or a kitting tray does; the robot picks it there, so the peg starts the
insertion held in the gripper by friction alone (no attachment constraint), with whatever offset
and tilt the grasp gave it. Picking it is the honest start: the peg's pose in the hand is not
known exactly, as on a real cell. The fixture, a block with a blind hole, stands on the table at
a nominal pose (the taught one); its real pose differs by a seeded error of up to
``pose_error_m`` along x and y and ``pose_error_deg`` about the vertical (defaults +-2 mm,
+-2 deg), which the procedure does not know.

The hole is made of boxes (`hole_boxes`), the collision primitive PyBullet handles best: a
square hole is four walls; a round hole is a ring of ``ring_segments`` walls tangent to the
hole's circle, a regular polygon circumscribed about it. A round peg in that polygon has the
hole's radial play (R - r) towards a flat and (R - r) / cos(pi / N) towards a corner: with
the default 24 segments at most 0.86 % more, 9 micrometres of a 0.5 mm clearance's
radial 0.25 mm. The mouth has a 45-degree chamfer (``chamfer_m`` wide and deep, default
1 mm, as a machined part has) made of tilted boxes, one per wall; the blind hole's floor is a
box. Peg and fixture use a 0.1 mm collision margin (PyBullet's default, 1 mm, rounds every box
edge by 1 mm).

The procedure (interfaces only): pick the peg (position control, planned around the holder
and the fixture), carry it above the nominal hole, then switch the arm to torque control
(through the safety filter) and run a Cartesian impedance (`CartesianImpedance`) at the tcp:
move down until the wrist force/torque sensor feels the contact, press with ``search_force_n``
and search along an Archimedean spiral around the nominal hole while pressing; a drop of the
tcp (the arm's own pose) below the surface it pressed on means the peg is over the hole; then
soften the lateral stiffness, push with ``insert_force_n`` and follow the hole to its bottom
(insertion depth from the arm's pose, seated when it stops at the hole's depth). On an arm that
offers compliant position control instead of torques (`officina.interfaces.CompliantArm`: over ROS,
the sim's admittance controller behind the gate) the same steps run in position mode with the
same stiffnesses, set on the arm's admittance (``force_control``). A peg that
stops short (jammed) is wiggled, then lifted and tried again (``max_attempts``). Release, lift,
home.

Ground truth, every control period (`after_step`): the net force between peg and fixture
(PyBullet's contact points: peak contact force), the first contact and the moment the peg is
seated (insertion time), the peg's path over the fixture's surface while it touches it outside
the hole (search distance), and the touch-downs after lifting more than 3 mm (attempts).
Success: at the end, the peg's tip within 1 mm of the hole's bottom and its axis within 2 deg
of the hole's.

Sources: the peg sizes (8-16 mm, round and square) follow NIST's assembly task boards
(Kimble et al., "Benchmarking Protocols for Evaluating Small Parts Robotic Assembly Systems",
IEEE RA-L 5(2), 2020, task board 1: round and square pegs, completion time and success per
component). Clearances for comparison: robosuite and ManiSkill insertions use millimetre-scale
clearances (ManiSkill's PegInsertionSide 3 mm); Isaac Lab's Factory peg-in-hole 0.114 mm.
Dimensions of our own choosing (stated, parameters): peg 60 mm long, steel (7850 kg/m^3);
hole 20 mm deep with a 10 mm floor and 20 mm walls; holder pocket 1 mm wider than the peg,
15 mm deep; friction peg/fixture 0.3 (dry steel on steel, a low value of its range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from officina.controllers.laws import (
    CartesianImpedance, CartesianReference, JointPDGravity, JointReference, damped_inverse,
)
from officina.controllers.model import rpy_to_matrix
from officina.controllers.planning.scene import Box, Cylinder, Obstacle, PlanningScene
from officina.controllers.skills import Skills
from officina.interfaces import AdmittanceConfig, CompliantArm, ControlMode
from officina.tasks.base import (
    Cell, MetricInfo, ProcedureOutcome, StrictParams, TaskDefinition, TaskScene, require_gripper,
)

__all__ = ["PegInHole", "PegInHoleParams", "hole_parts"]

STEEL_KG_M3 = 7850.0
SEATED_TOL_M = 0.001  # success: the tip within 1 mm of the bottom
AXIS_TOL_DEG = 2.0  # and the peg's axis within 2 deg of the hole's
LIFT_FOR_NEW_ATTEMPT_M = 0.003  # a touch-down after lifting this far counts as a new attempt
# force control starts with the arm at rest where it was sent: within SETTLE_TOL_RAD of its command
# (every joint) for SETTLE_STILL_S, waited for at most SETTLE_TIMEOUT_S
SETTLE_TOL_RAD = 2e-4
SETTLE_STILL_S = 0.1
SETTLE_TIMEOUT_S = 3.0
COLLISION_MARGIN_M = 1e-4


class PegInHoleParams(StrictParams):
    # the part and the hole
    peg_shape: Literal["round", "square"] = "round"
    peg_size_m: float = Field(0.012, ge=0.004, le=0.03, description="peg diameter (round) or side (square) [m]")
    peg_length_m: float = Field(0.06, ge=0.04, le=0.1)
    clearance_m: float = Field(0.0005, gt=0.0, le=0.005, description="diametral clearance: hole size - peg size [m]")
    hole_depth_m: float = Field(0.02, ge=0.005, le=0.035)
    chamfer_m: float = Field(0.001, ge=0.0, le=0.003, description="45-degree chamfer at the hole's mouth, width = depth [m]")
    ring_segments: int = Field(24, ge=8, le=64, description="walls of a round hole (a regular polygon about its circle)")
    wall_m: float = Field(0.02, ge=0.005, le=0.05)
    floor_m: float = Field(0.01, ge=0.002, le=0.05)
    friction: float = Field(0.3, gt=0.0, le=1.5, description="friction coefficient peg/fixture")
    # the cell (world frame; the robot base at the origin, the table top at table_z)
    table_z: float = 0.0
    fixture_xy: tuple[float, float] = (0.5, 0.12)
    fixture_yaw_deg: float = 0.0
    pose_error_m: float = Field(0.002, ge=0.0, le=0.005, description="fixture pose error along x and y, each uniform in +-this [m]")
    pose_error_deg: float = Field(2.0, ge=0.0, le=10.0, description="fixture yaw error, uniform in +-this [deg]")
    fixture_offset_m: tuple[float, float] | None = Field(
        None, description="the fixture's position error, given instead of drawn (a hole known to be missed)")
    fixture_yaw_error_deg: float | None = Field(None, description="the yaw error, given instead of drawn")
    holder_xy: tuple[float, float] = (0.45, -0.14)
    holder_clearance_m: float = Field(0.001, ge=0.0002, le=0.004)
    holder_depth_m: float = Field(0.015, ge=0.005, le=0.03)
    # the procedure
    grasp_from_top_m: float = Field(0.018, ge=0.008, le=0.04, description="grasp point below the peg's top [m]")
    grasp_force_n: float = Field(40.0, gt=0.0)
    velocity_scale: float = Field(0.5, gt=0, le=1)
    linear_speed_m_s: float = Field(0.15, gt=0, le=0.5)
    approach_height_m: float = Field(0.008, ge=0.002, le=0.05, description="tip above the surface when force control starts")
    approach_speed_m_s: float = Field(0.01, gt=0.0, le=0.05)
    slow_above_m: float = Field(0.0015, ge=0.0, le=0.01, description="the touching speed from this far above the nominal surface")
    touch_speed_m_s: float = Field(0.003, gt=0.0, le=0.02)
    surface_tolerance_m: float = Field(0.0002, ge=0.0, le=0.002, description="the surface found within this of the nominal")
    contact_threshold_n: float = Field(2.5, gt=0.0, le=30.0, description="contact: the force above this and 6 sigma of the sensor's noise")
    search_force_n: float = Field(6.0, gt=0.0, le=30.0)
    insert_speed_m_s: float = Field(0.01, gt=0.0, le=0.05)
    insert_force_n: float = Field(12.0, gt=0.0, le=35.0)
    stiffness_n_m: float = Field(1500.0, ge=200.0, le=5000.0, description="translational stiffness while searching [N/m]")
    insert_stiffness_n_m: float = Field(300.0, ge=0.0, le=5000.0, description="lateral stiffness while inserting [N/m]")
    rot_stiffness_nm_rad: float = Field(40.0, ge=2.0, le=300.0)
    spiral_pitch_m: float = Field(0.0008, ge=0.0002, le=0.003)
    search_speed_m_s: float = Field(0.008, gt=0.0, le=0.03)
    search_radius_m: float = Field(0.0045, ge=0.0005, le=0.015)
    drop_m: float = Field(0.0003, ge=0.0001, le=0.002, description="the tcp this far below the pressed surface: over the hole")
    max_attempts: int = Field(3, ge=1, le=6)
    force_control: Literal["auto", "torque", "admittance"] = Field(
        "auto", description="auto: the arm's own admittance where it offers one (a CompliantArm, as over ROS), "
        "else a Cartesian impedance in torque mode; admittance on an arm without one runs it in the procedure")
    admittance_mass_kg: float = Field(20.0, gt=0.0, le=200.0, description="the admittance's virtual mass per axis [kg]")
    admittance_damping_ratio: float = Field(
        4.0, gt=0.0, le=10.0,
        description="the admittance's damping ratio (a peg that slips after sticking moves on at push force / damping)")
    padding_m: float = Field(0.005, ge=0.0, le=0.05)

    @model_validator(mode="after")
    def _check(self) -> "PegInHoleParams":
        if self.grasp_from_top_m + 0.01 > self.peg_length_m - self.hole_depth_m:
            raise ValueError("peg_length_m must exceed hole_depth_m + grasp_from_top_m + 0.01 m (the fingers stay "
                             "above the fixture when the peg is seated)")
        if self.holder_depth_m > self.peg_length_m - self.grasp_from_top_m - 0.02:
            raise ValueError("holder_depth_m leaves the fingers too close to the holder (keep 20 mm)")
        return self

    @property
    def hole_size_m(self) -> float:
        return self.peg_size_m + self.clearance_m

    @property
    def fixture_top_z(self) -> float:
        return self.table_z + self.floor_m + self.hole_depth_m

    @property
    def holder_floor_z(self) -> float:
        return self.table_z + 0.005

    @property
    def holder_size_m(self) -> float:
        return self.peg_size_m + self.holder_clearance_m + 0.02


def _rz(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def hole_parts(shape: str, hole_size_m: float, depth_m: float, chamfer_m: float, wall_m: float, floor_m: float,
               segments: int = 24) -> tuple[list, list]:
    """The fixture in the hole's frame (origin on the hole's axis in the top surface, z up), as
    ``(boxes, hulls)`` for `SimWorld.add_assembly`: one convex prism per wall (4 for a square
    hole, ``segments`` for a round one, each with its inner face tangent to the hole's inscribed
    circle of radius ``hole_size_m / 2``), whose profile is the wall up to the chamfer, the
    45-degree chamfer and the top surface; and the floor of the blind hole, a box. Each prism
    reaches far enough sideways to close the polygon: what reaches past a corner lies behind the
    neighbouring wall's faces. One solid per wall, no seam between wall and chamfer (a seam
    between two touching solids catches a sliding peg's edge)."""
    R = hole_size_m / 2.0
    n = 4 if shape == "square" else int(segments)
    c = float(chamfer_m)
    W = float(wall_m)
    half_w = (R + W) * (np.tan(np.pi / n) if n > 4 else 1.0)
    profile = [(R, -depth_m), (R, -c), (R + c, 0.0), (R + W, 0.0), (R + W, -depth_m)]  # (radial, z)
    local = np.array([(x, s * half_w, z) for x, z in profile for s in (-1.0, 1.0)])
    hulls = [local @ _rz(2.0 * np.pi * i / n).T for i in range(n)]
    side = 2.0 * (R + W)
    boxes = [((side, side, floor_m), (0.0, 0.0, -depth_m - floor_m / 2), (0.0, 0.0, 0.0, 1.0))]
    return boxes, hulls


@dataclass
class PegScene(TaskScene):
    """The scene and what `after_step` measures (ground truth)."""

    peg: Any = None  # SimObject
    fixture: Any = None  # SimObject
    world_T_hole: np.ndarray = field(default_factory=lambda: np.eye(4))  # the true hole frame
    fixture_offset_m: tuple[float, float] = (0.0, 0.0)
    fixture_yaw_error_deg: float = 0.0
    peak_force_n: float = 0.0
    first_contact_t: float | None = None
    seated_t: float | None = None
    attempts: int = 0
    search_path_m: float = 0.0
    lifted: bool = True  # the tip was more than LIFT_FOR_NEW_ATTEMPT_M above the surface since the last contact
    last_tip_xy: np.ndarray | None = None


def _peg_tip(world, scene: PegScene, params: PegInHoleParams) -> tuple[np.ndarray, float]:
    """The peg's tip in the hole frame and the angle (deg) between its axis and the hole's."""
    pos, (x, y, z, w) = world.object_pose(scene.peg.body_id)
    axis_w = np.array([2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)])
    R = scene.world_T_hole[:3, :3]
    tip = R.T @ (pos - axis_w * (params.peg_length_m / 2) - scene.world_T_hole[:3, 3])
    return tip, float(np.degrees(np.arccos(min(1.0, abs(float(R[:, 2] @ axis_w))))))


class PegInHole(TaskDefinition):
    name = "peg-in-hole"
    description = ("Insert a peg (round or square, sub-millimetre clearance) into a chamfered hole placed to "
                   "+-2 mm / +-2 deg, by impedance control, the wrist sensor and a spiral search.")
    Params = PegInHoleParams
    metric_info = {
        "insertion_time_s": MetricInfo("s", "from the peg's first contact with the fixture to seated (ground truth)",
                                       "lower", "insertion time"),
        "peak_contact_force_n": MetricInfo("N", "largest net force between peg and fixture (simulator contacts)",
                                           "lower", "peak contact force"),
        "attempts": MetricInfo("", "touch-downs of the peg on the fixture (a new one after lifting > 3 mm)", "lower"),
        "search_distance_mm": MetricInfo("mm", "path of the peg's tip over the fixture's surface before it entered",
                                         "lower", "search distance"),
        "depth_error_mm": MetricInfo("mm", "the peg's tip above the hole's bottom at the end", "lower", "depth error"),
        "axis_error_deg": MetricInfo("deg", "angle between the peg's axis and the hole's at the end", "lower",
                                     "axis error"),
        "fixture_offset_mm": MetricInfo("mm", "the fixture's position error the procedure did not know", None,
                                        "fixture offset"),
    }
    key_metrics = ("insertion_time_s", "peak_contact_force_n", "attempts", "search_distance_mm")
    plot_events = ("contact", "hole_found", "seated", "retry", "gave_up")
    # the pick and the transfer in position mode, the insertion under a Cartesian impedance in
    # torque mode, or, on an arm that offers it instead (`CompliantArm`: over ROS, the sim's
    # admittance controller behind the gate), compliant position control
    control_modes = ("position", "torque")
    compliant_modes = ("position", "admittance")
    video_view = ((0.85, -0.35, 0.35), (0.5, 0.05, 0.03))

    # --- the cell's fixed geometry (data) ------------------------------------------------------------
    def planning_scene(self, params: PegInHoleParams) -> PlanningScene:
        """The table (as pick-place's), the holder (floor and four walls around the pocket) and the
        fixture's envelope at its nominal pose, grown by the pose error (the planner keeps the
        carried peg off it; the physics has the real fixture with its hole, see `build_scene`)."""
        tz = params.table_z
        hx, hy = params.holder_xy
        S = params.holder_size_m
        pocket = params.peg_size_m + params.holder_clearance_m
        wall = (S - pocket) / 2
        d = params.holder_depth_m
        fz = params.holder_floor_z
        R = params.hole_size_m / 2
        n = 4 if params.peg_shape == "square" else params.ring_segments
        reach = (R + params.wall_m) / (np.cos(np.pi / n) if n > 4 else 1.0) * (np.sqrt(2.0) if n == 4 else 1.0)
        env = 2 * (reach + params.pose_error_m * np.sqrt(2.0)) + 0.004
        top = params.fixture_top_z
        fx, fy = params.fixture_xy
        return PlanningScene([
            Obstacle("table", Box((1.3, 1.2, 0.05)), (0.35, 0.0, tz - 0.025)),
            Obstacle("holder_floor", Box((S, S, fz - tz)), (hx, hy, (tz + fz) / 2)),
            Obstacle("holder_wall_x+", Box((wall, S, d)), (hx + pocket / 2 + wall / 2, hy, fz + d / 2)),
            Obstacle("holder_wall_x-", Box((wall, S, d)), (hx - pocket / 2 - wall / 2, hy, fz + d / 2)),
            Obstacle("holder_wall_y+", Box((pocket, wall, d)), (hx, hy + pocket / 2 + wall / 2, fz + d / 2)),
            Obstacle("holder_wall_y-", Box((pocket, wall, d)), (hx, hy - pocket / 2 - wall / 2, fz + d / 2)),
            Obstacle("fixture", Box((env, env, top - tz + 0.001)), (fx, fy, (tz + top + 0.001) / 2)),
        ])

    # --- simulation side -------------------------------------------------------------------------------
    def required_gripper(self, params) -> tuple[str, str]:
        return ("parallel", f"a suction cup cannot hold a peg's {params.peg_size_m * 1e3:.0f} mm end")

    def build_scene(self, world, params: PegInHoleParams, rng: np.random.Generator) -> PegScene:
        kind, why = self.required_gripper(params)
        require_gripper(world, kind, self.name, why)
        scene = self.planning_scene(params)
        scene.remove("fixture")  # the envelope is the planner's; the physics gets the real part below
        colors = {o.name: (0.35, 0.35, 0.38, 1.0) for o in scene.obstacles}
        colors["table"] = (0.72, 0.6, 0.45, 1.0)
        fixtures = world.add_planning_scene(scene, colors=colors)
        # the fixture's real pose: the nominal one and an error the procedure does not know
        e = params.pose_error_m
        off = np.array(params.fixture_offset_m if params.fixture_offset_m is not None
                       else rng.uniform(-e, e, 2), dtype=float)
        dyaw = float(params.fixture_yaw_error_deg if params.fixture_yaw_error_deg is not None
                     else rng.uniform(-params.pose_error_deg, params.pose_error_deg))
        yaw = np.radians(params.fixture_yaw_deg + dyaw)
        top = params.fixture_top_z
        pos = (params.fixture_xy[0] + off[0], params.fixture_xy[1] + off[1], top)
        quat = (0.0, 0.0, float(np.sin(yaw / 2)), float(np.cos(yaw / 2)))
        boxes, hulls = hole_parts(params.peg_shape, params.hole_size_m, params.hole_depth_m, params.chamfer_m,
                                  params.wall_m, params.floor_m, params.ring_segments)
        fixture = world.add_assembly(boxes, hulls, pos, quat, friction=params.friction, color=(0.62, 0.64, 0.68, 1.0),
                                     name="fixture", collision_margin_m=COLLISION_MARGIN_M)
        world_T_hole = np.eye(4)
        world_T_hole[:3, :3] = _rz(yaw)
        world_T_hole[:3, 3] = pos
        # the peg stands in the holder's pocket, somewhere within its clearance
        j = params.holder_clearance_m / 4
        pxy = np.asarray(params.holder_xy, float) + rng.uniform(-j, j, 2)
        pyaw = np.radians(float(rng.uniform(-1.0, 1.0)))
        L, a = params.peg_length_m, params.peg_size_m
        ppos = (float(pxy[0]), float(pxy[1]), params.holder_floor_z + L / 2 + 1e-4)
        pquat = (0.0, 0.0, float(np.sin(pyaw / 2)), float(np.cos(pyaw / 2)))
        if params.peg_shape == "square":
            peg = world.add_box((a, a, L), STEEL_KG_M3 * a * a * L, ppos, pquat, friction=1.0,
                                color=(0.85, 0.55, 0.15, 1.0), name="peg", collision_margin_m=COLLISION_MARGIN_M)
        else:
            peg = world.add_cylinder(a / 2, L, STEEL_KG_M3 * np.pi * a * a / 4 * L, ppos, pquat, friction=1.0,
                                     color=(0.85, 0.55, 0.15, 1.0), name="peg", collision_margin_m=COLLISION_MARGIN_M)
        world.step(100)  # the peg settles in its pocket (the run's clock starts after the scene is built)
        return PegScene(objects=[peg], fixtures=[*fixtures, fixture], peg=peg, fixture=fixture,
                        world_T_hole=world_T_hole, fixture_offset_m=(float(off[0]), float(off[1])),
                        fixture_yaw_error_deg=dyaw)

    def after_step(self, world, scene: PegScene, params: PegInHoleParams, t: float) -> None:
        f, n = world.contact_force(scene.peg.body_id, scene.fixture.body_id)
        tip, tilt = _peg_tip(world, scene, params)
        if n:
            scene.peak_force_n = max(scene.peak_force_n, float(np.linalg.norm(f)))
            if scene.first_contact_t is None:
                scene.first_contact_t = t
            if scene.lifted:
                scene.attempts += 1
                scene.lifted = False
            if tip[2] > -params.chamfer_m and scene.last_tip_xy is not None and scene.seated_t is None:
                scene.search_path_m += float(np.linalg.norm(tip[:2] - scene.last_tip_xy))
        elif tip[2] > LIFT_FOR_NEW_ATTEMPT_M:
            scene.lifted = True
        scene.last_tip_xy = tip[:2].copy()
        if scene.seated_t is None and self._seated(tip, tilt, params):
            scene.seated_t = t

    @staticmethod
    def _seated(tip: np.ndarray, tilt_deg: float, params: PegInHoleParams) -> bool:
        return bool(tip[2] < -params.hole_depth_m + SEATED_TOL_M and np.hypot(tip[0], tip[1]) < params.hole_size_m
                    and tilt_deg <= AXIS_TOL_DEG)

    def metrics(self, world, scene: PegScene, params: PegInHoleParams) -> dict[str, Any]:
        tip, tilt = _peg_tip(world, scene, params)
        seated = self._seated(tip, tilt, params)
        t_ins = None
        if scene.seated_t is not None and scene.first_contact_t is not None:
            t_ins = round(scene.seated_t - scene.first_contact_t, 6)
        return {
            "success": seated,
            "insertion_time_s": t_ins,
            "peak_contact_force_n": round(scene.peak_force_n, 4),
            "attempts": scene.attempts,
            "search_distance_mm": round(1e3 * scene.search_path_m, 3),
            "depth_error_mm": round(1e3 * (tip[2] + params.hole_depth_m), 4),
            "axis_error_deg": round(tilt, 4),
            "fixture_offset_mm": round(1e3 * float(np.hypot(*scene.fixture_offset_m)), 4),
            "fixture_yaw_error_deg": round(scene.fixture_yaw_error_deg, 4),
            "peg": f"{params.peg_shape} {params.peg_size_m * 1e3:g} mm",
            "clearance_mm": round(params.clearance_m * 1e3, 4),
        }

    # --- the procedure (interfaces only) ------------------------------------------------------------------
    def procedure(self, cell: Cell, params: PegInHoleParams) -> ProcedureOutcome:
        model = cell.model
        scene = (cell.planning_scene if cell.planning_scene is not None else self.planning_scene(params)).copy()
        sk = Skills(cell.arm, cell.gripper, model, cell.tick, rng=cell.rng, velocity_scale=params.velocity_scale,
                    linear_speed_m_s=params.linear_speed_m_s, planning_scene=scene, padding_m=params.padding_m,
                    world_T_base=cell.world_T_base)
        base_T_world = np.linalg.inv(cell.world_T_base)
        home = model.spec.home
        T_home = model.frame_transform(home, "tcp")
        psi_home = float(np.arctan2(T_home[1, 0], T_home[0, 0]))
        R_down = np.diag([1.0, -1.0, -1.0])  # tcp z down, tcp x along world x (yaw 0)
        sym = np.pi / 2 if params.peg_shape == "square" else np.pi  # the peg's symmetry in the fingers

        def pose(x, y, z, psi):
            T = np.eye(4)
            T[:3, :3] = rpy_to_matrix((0.0, 0.0, psi)) @ R_down
            T[:3, 3] = (x, y, z)
            return base_T_world @ T

        def near_home(psi):
            return psi_home + ((psi - psi_home + sym / 2) % sym - sym / 2)

        if cell.gripper is None:
            return ProcedureOutcome(False, "peg-in-hole needs a gripper")
        sk.release()
        # 1. pick the peg from its holder (the pocket is square: grasp across its faces)
        L = params.peg_length_m
        peg_top = params.holder_floor_z + L
        hx, hy = params.holder_xy
        psi_grasp = near_home(0.0)
        z_grasp = peg_top - params.grasp_from_top_m
        r = sk.move_to_pose(pose(hx, hy, peg_top + 0.06, psi_grasp))
        if not r.ok:
            return ProcedureOutcome(False, f"above the holder: {r.message}")
        r = sk.move_line(pose(hx, hy, z_grasp, psi_grasp), speed_m_s=0.08)
        if not r.ok:
            return ProcedureOutcome(False, f"down to the peg: {r.message}")
        g = sk.grasp(params.grasp_force_n)
        width = cell.gripper.width()
        if not g.ok or abs(width - params.peg_size_m) > 0.003:
            return ProcedureOutcome(False, f"grasp failed: {g.message or f'width {width * 1e3:.1f} mm'}")
        cell.log_event(None, "grasped", width_mm=round(width * 1e3, 3))
        r = sk.move_line(pose(hx, hy, peg_top + 0.03, psi_grasp), speed_m_s=0.08, escape_m=0.03)
        if not r.ok:
            return ProcedureOutcome(False, f"lifting the peg: {r.message}")
        tip_below_tcp = L - params.grasp_from_top_m
        tcp_T_peg = np.eye(4)
        tcp_T_peg[2, 3] = tip_below_tcp - L / 2  # tcp z points down, along the peg towards its tip
        a = params.peg_size_m
        shape = Box((a, a, L)) if params.peg_shape == "square" else Cylinder(a / 2, L)
        scene.attach("peg", shape, tcp_T_peg)
        # 2. above the nominal hole, the peg's faces (square) along the hole's nominal walls
        fx, fy = params.fixture_xy
        psi_ins = near_home(np.radians(params.fixture_yaw_deg) + psi_grasp)
        z_touch = params.fixture_top_z + tip_below_tcp  # tcp height when the tip touches the surface
        r = sk.move_to_pose(pose(fx, fy, z_touch + 0.03, psi_ins))
        if not r.ok:
            return ProcedureOutcome(False, f"above the hole: {r.message}")
        scene.remove("fixture")  # what follows touches it on purpose
        r = sk.move_line(pose(fx, fy, z_touch + params.approach_height_m, psi_ins), speed_m_s=0.05)
        if not r.ok:
            return ProcedureOutcome(False, f"approach: {r.message}")
        # 3. force-controlled insertion (torque mode), from rest: the tares (the procedure's, and
        # the admittance controller's of an arm that has one) are taken at rest and free, and the
        # joint reference starts where the arm is. An arm behind a network (ROS: the gate, the
        # processes of a busy machine) still runs the approach's last commands after the
        # procedure has sent them; a tare taken then would hold the approach's deceleration.
        if not sk.wait_in_position(SETTLE_TOL_RAD, SETTLE_TIMEOUT_S, still_s=SETTLE_STILL_S):
            cell.log_event(None, "not_in_position", error_mrad=round(1e3 * sk.position_error(), 3))
        out = insert_peg(cell, params, base_T_world @ _tcp_target(fx, fy, z_touch, psi_ins, R_down), tip_below_tcp)
        # 4. back in position mode, the fingers open: up and home
        sk.resync()
        scene.detach("peg")
        T_up = model.frame_transform(sk.q_command, "tcp")
        T_up[:3, 3] += base_T_world[:3, :3] @ np.array([0.0, 0.0, 0.05])
        sk.move_line(T_up, speed_m_s=0.08, escape_m=0.06)
        sk.move_joints(home)
        return out


def _tcp_target(x: float, y: float, z: float, psi: float, R_down: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = rpy_to_matrix((0.0, 0.0, psi)) @ R_down
    T[:3, 3] = (x, y, z)
    return T


class _Compliant:
    """The arm in torque mode under a Cartesian impedance at the peg's tip (through the safety
    filter), or in position mode behind an admittance at the tip (`CompliantArm`: the joint
    references follow the reference pose, the arm's controller offsets them by the force; the same
    stiffness per axis, so a reference pushed ``F / K`` into a surface presses with ``F``): the
    centre of compliance at the tip, as a remote centre compliance device puts it, so that a force
    on the tip moves it without turning the peg, and a moment about the tip turns the peg about it
    (no wedging of the peg in the hole by the arm's own stiffness; the admittance is translational
    only: the peg turns in the fingers). The contact force from the
    wrist sensor (tared, low-pass filtered, base frame) or, without one, from the
    joint-torque estimate. One `tick` is one control period; ``T`` is the tip's pose (base
    frame), from the arm's joints and the peg's nominal place in the hand."""

    FILTER_S = 0.02  # time constant of the force filter
    SIGNAL_EVERY_S = 0.01

    FRAME = "peg_tip"

    def __init__(self, cell: Cell, params: PegInHoleParams, base_T_touch: np.ndarray, tip_below_tcp: float) -> None:
        from officina.controllers.contact import ExternalTorqueObserver

        self.cell, self.p = cell, params
        self.arm = cell.arm
        mode = params.force_control
        if mode == "auto":
            mode = "admittance" if isinstance(self.arm, CompliantArm) else "torque"
        self.admittance = mode == "admittance"
        if self.admittance and not isinstance(self.arm, CompliantArm):
            from officina.controllers.admittance import AdmittanceArm

            if cell.wrist is None or cell.model.spec.wrist_sensor is None:
                raise ValueError("force_control=admittance needs a wrist force/torque sensor")
            self.arm = AdmittanceArm(cell.arm, cell.wrist, cell.model, cell.model.spec.wrist_sensor.joint)
        tcp_T_tip = np.eye(4)
        tcp_T_tip[2, 3] = tip_below_tcp  # the tcp's z points down, along the peg
        self.tip_offset = (0.0, 0.0, float(tip_below_tcp))
        self.model = cell.model.with_frame(self.FRAME, "tcp", tcp_T_tip)
        self.dt = float(self.arm.control_period)
        k, kr = params.stiffness_n_m, params.rot_stiffness_nm_rad
        self.K = np.array([k, k, k, kr, kr, kr])
        self.admittance_on = False
        if not self.admittance:
            self.arm.set_mode(ControlMode.TORQUE)
        st = self.arm.read()
        self.q_ref = st.position.copy()  # admittance: the joint reference that puts the tip at ``ref``
        self.q = st.position
        # damping: critical for each Cartesian mode at the present configuration (recomputed when
        # the stiffness changes; the arm moves millimetres here), no acceleration feed-forward
        # (the references move at millimetres per second)
        self.law = CartesianImpedance(self.model, self.dt, frame=self.FRAME, stiffness=(k, k, k, kr, kr, kr),
                                      damping=np.zeros(6), feedforward=False)
        self.set_stiffness(k, k, kr)
        self.q_posture = st.position.copy()
        self.T = self.model.frame_transform(st.position, self.FRAME)
        self.ref = self.T.copy()
        Tf = self.model.frame_transform(st.position, "flange")
        self.tip_R_flange = self.T[:3, :3].T @ Tf[:3, :3]
        self.z_touch = float((base_T_touch @ tcp_T_tip)[2, 3])
        self.wrist = cell.wrist
        self.observer = None
        if self.wrist is None:
            self.observer = ExternalTorqueObserver(self.model)
            self.observer.reset(st)
        self.alpha = min(1.0, self.dt / self.FILTER_S)
        self.tare = np.zeros(3)
        self.f = np.zeros(3)
        self.threshold_n = params.contact_threshold_n
        self.vz = 0.0
        self.k = 0
        self.signal_every = max(1, int(round(self.SIGNAL_EVERY_S / self.dt)))
        self.fault: str | None = None

    # --- one control period -----------------------------------------------------------------------
    def _raw_force(self, st) -> np.ndarray:
        if self.wrist is not None:
            return (self.T[:3, :3] @ self.tip_R_flange) @ np.asarray(self.wrist.read().force, float)
        tau = self.observer.update(st)
        Jv = self.model.jacobian(st.position, self.FRAME)[:3]
        f, *_ = np.linalg.lstsq(Jv.T, tau, rcond=1e-3)
        return f

    def tick(self) -> bool:
        """One period; False when the arm stopped on its own (a protective stop)."""
        if self.admittance:
            self._follow_ref()
            self.arm.command_positions(self.q_ref)
        else:
            st = self.arm.read()
            tau, _ = self.law.step(st, CartesianReference(self.ref, None, None, self.q_posture))
            self.arm.command_torques(tau)
        self.cell.tick()
        z0 = self.T[2, 3]
        st = self.arm.read()
        self.q = st.position
        self.T = self.model.frame_transform(st.position, self.FRAME)
        self.vz = (self.T[2, 3] - z0) / self.dt
        self.f += self.alpha * (self._raw_force(st) - self.tare - self.f)
        self.k += 1
        if self.k % self.signal_every == 0:
            self.cell.log_signal("contact_force_n", float(np.linalg.norm(self.f)))
            self.cell.log_signal("insertion_depth_mm", 1e3 * self.depth)
        why = self.arm.fault()
        if why is not None:
            self.fault = why
            return False
        return True

    REF_SPEED_M_S = 0.025  # admittance: the joint reference follows ``ref`` at most this fast
    REF_SPEED_RAD_S = 0.5
    REF_SPEED_Z_M_S = 0.005

    def _follow_ref(self) -> None:
        """Admittance: one damped Gauss-Newton step of the joint reference towards ``ref``, at most
        `REF_SPEED_M_S` (a step of ``ref``, as pressing sets it, becomes a ramp: the admittance,
        not the arm's position loop, then decides how fast the force builds)."""
        T = self.model.frame_transform(self.q_ref, self.FRAME)
        R_err = self.ref[:3, :3] @ T[:3, :3].T
        w = 0.5 * np.array([R_err[2, 1] - R_err[1, 2], R_err[0, 2] - R_err[2, 0], R_err[1, 0] - R_err[0, 1]])
        e = np.concatenate((self.ref[:3, 3] - T[:3, 3], w))
        for sl, vmax in ((slice(0, 2), self.REF_SPEED_M_S), (slice(2, 3), self.REF_SPEED_Z_M_S),
                         (slice(3, 6), self.REF_SPEED_RAD_S)):
            n = float(np.linalg.norm(e[sl]))
            if n > vmax * self.dt:
                e[sl] *= vmax * self.dt / n
        J = self.model.jacobian(self.q_ref, self.FRAME)
        self.q_ref = self.q_ref + J.T @ np.linalg.solve(J @ J.T + 1e-6 * np.eye(6), e)

    def _send_admittance(self, enabled: bool = True) -> None:
        p = self.p
        self.arm.set_admittance(AdmittanceConfig(
            enabled=enabled, selected_axes=(True, True, True, False, False, False),
            mass=(p.admittance_mass_kg,) * 3 + (0.05,) * 3, damping_ratio=(p.admittance_damping_ratio,) * 6,
            stiffness=tuple(float(v) for v in self.K), frame_offset_xyz=self.tip_offset,
            max_offset_m=0.01, max_offset_rad=0.1, filter_time_s=0.0))
        self.admittance_on = enabled

    def stop_admittance(self) -> None:
        """Admittance off, the joint reference where the arm is (it stands at rest by then)."""
        if self.admittance and self.admittance_on:
            self.q_ref = self.arm.read().position.copy()
            self._send_admittance(False)
            self.arm.command_positions(self.q_ref)

    @property
    def depth(self) -> float:
        """How far the tip is below the fixture's nominal surface, from the arm's pose (m)."""
        return self.z_touch - float(self.T[2, 3])

    def set_stiffness(self, lateral: float, vertical: float, rot: float, rot_z: float | None = None) -> None:
        """The impedance's stiffness (base-aligned axes at the tip) and its damping: the diagonal of
        the critical modal damping (the law takes a damping per axis)."""
        K = np.array([lateral, lateral, vertical, rot, rot, rot if rot_z is None else rot_z], dtype=float)
        self.K = K
        if self.admittance:
            self._send_admittance()
            return
        self.law.K = K
        self.law.D = np.diag(_modal_damping(self.model, self.q, K, self.FRAME)).copy()

    def hold(self, seconds: float) -> bool:
        for _ in range(max(1, int(round(seconds / self.dt)))):
            if not self.tick():
                return False
        return True

    def calibrate(self, seconds: float = 0.2) -> bool:
        """At rest and free: the tare (the tool's weight) and the sensor's noise, whose 6 sigma
        after the filter raises the contact threshold when it is above ``contact_threshold_n``."""
        if not self.hold(0.1):
            return False
        samples = []
        for _ in range(max(2, int(round(seconds / self.dt)))):
            if not self.tick():
                return False
            samples.append(self._raw_force(self.arm.read()))
        a = np.array(samples)
        self.tare = a.mean(axis=0)
        self.f = np.zeros(3)
        sigma = float(a[:, 2].std())
        sigma_f = sigma * np.sqrt(self.alpha / (2.0 - self.alpha))
        self.threshold_n = max(self.p.contact_threshold_n, 6.0 * sigma_f)
        return True

    def press_ref_z(self, force_n: float) -> float:
        """The reference height that presses the tool down with ``force_n`` where it is."""
        return float(self.T[2, 3]) - force_n / float(self.K[2])


def _modal_damping(model, q: np.ndarray, K: np.ndarray, frame: str, zeta: float = 1.0) -> np.ndarray:
    """``D = 2 zeta Lambda^1/2 sqrt(Lambda^-1/2 K Lambda^-1/2) Lambda^1/2`` with the frame's
    operational-space inertia Lambda at q (damped inverse, as the laws compute it): every mode of
    the impedance critically damped."""
    J = model.jacobian(q, frame)
    Lam, _ = damped_inverse(J @ np.linalg.inv(model.mass_matrix(q)) @ J.T)
    s, U = np.linalg.eigh(0.5 * (Lam + Lam.T))
    s = np.maximum(s, 1e-9)
    Lh = (U * np.sqrt(s)) @ U.T
    Lih = (U / np.sqrt(s)) @ U.T
    B = Lih @ (K[:, None] * Lih)
    w, V = np.linalg.eigh(0.5 * (B + B.T))
    return 2.0 * zeta * Lh @ ((V * np.sqrt(np.maximum(w, 0.0))) @ V.T) @ Lh


def insert_peg(cell: Cell, params: PegInHoleParams, base_T_touch: np.ndarray, tip_below_tcp: float) -> ProcedureOutcome:
    """Touch, search, insert, release: the force-controlled part of the procedure. ``base_T_touch``
    is the tcp pose at which the peg's tip would touch the nominal hole's centre on the surface,
    the tip ``tip_below_tcp`` along the tcp's z. Ends in position mode, the fingers open, the peg
    left where it is."""
    p = params
    c = _Compliant(cell, p, base_T_touch, tip_below_tcp)
    centre = base_T_touch[:2, 3].copy()
    chamfer = p.chamfer_m

    def done(ok: bool, message: str, **details) -> ProcedureOutcome:
        details = {"attempts": attempt, "search_distance_mm": round(1e3 * searched, 3), **details}
        if c.fault is None:
            _release(c, cell)
            _come_to_rest(c)
        c.stop_admittance()
        cell.arm.set_mode(ControlMode.POSITION)
        if c.fault is not None:
            return ProcedureOutcome(False, f"stopped: {c.fault}", details)
        return ProcedureOutcome(ok, message, details)

    attempt, searched = 0, 0.0
    if not c.calibrate():
        return done(False, "stopped while calibrating")
    cell.log_event(None, "force_control", threshold_n=round(c.threshold_n, 3))
    while attempt < p.max_attempts:
        attempt += 1
        # 1. down until the sensor feels the contact: fast to just above the nominal surface,
        # then at the touching speed (the impact's force grows with the speed)
        k_v = p.stiffness_n_m
        c.set_stiffness(k_v, k_v, p.rot_stiffness_nm_rad)
        contact = in_hole = False
        z_slow = c.z_touch + p.slow_above_m
        while not (contact or in_hole):
            v = p.approach_speed_m_s if c.T[2, 3] > z_slow else p.touch_speed_m_s
            c.ref[2, 3] -= v * c.dt
            if not c.tick():
                return done(False, "stopped")
            contact = c.f[2] > c.threshold_n
            in_hole = c.depth > chamfer + p.drop_m + 0.0005  # went in without a felt contact
            if c.T[2, 3] > c.ref[2, 3] + 0.01:
                return done(False, "stuck on the way down", depth_mm=round(1e3 * c.depth, 3))
        cell.log_event(None, "contact", attempt=attempt, depth_mm=round(1e3 * c.depth, 3),
                       force_n=round(float(c.f[2]), 2))
        found = in_hole
        if not found:
            # 2. press on it; the surface's height is where the tcp rests. Below the nominal
            # surface already: the tip is in the chamfer, the hole is right there
            c.ref[2, 3] = c.press_ref_z(p.search_force_n)
            if not c.hold(0.15):
                return done(False, "stopped")
            z_surface = float(c.T[2, 3])
            found = c.depth > p.drop_m + p.surface_tolerance_m
        # 3. the spiral search around the nominal centre, while pressing; a retry turns the
        # spiral by half a turn, between the turns of the last one
        if not found:
            b = p.spiral_pitch_m / (2 * np.pi)
            phase = np.pi * (attempt - 1)
            spiral_s = 0.0
            xy_prev = c.T[:2, 3].copy()
            while True:
                spiral_s += p.search_speed_m_s * c.dt
                theta = np.sqrt(2.0 * spiral_s / b)
                r = b * theta
                if r > p.search_radius_m:
                    break
                c.ref[:2, 3] = centre + r * np.array([np.cos(theta + phase), np.sin(theta + phase)])
                if not c.tick():
                    return done(False, "stopped")
                searched += float(np.linalg.norm(c.T[:2, 3] - xy_prev))
                xy_prev = c.T[:2, 3].copy()
                if c.T[2, 3] < z_surface - p.drop_m:
                    found = True
                    break
        if not found:
            if attempt == p.max_attempts:  # given up: the peg is left resting where it pressed
                cell.log_event(None, "gave_up", attempt=attempt, reason="the spiral search found no hole")
                break
            cell.log_event(None, "retry", attempt=attempt, reason="the spiral search found no hole")
            if not _lift(c, 0.005):
                return done(False, "stopped")
            continue
        cell.log_event(None, "hole_found", attempt=attempt, depth_mm=round(1e3 * c.depth, 3),
                       search_mm=round(1e3 * searched, 2))
        # 4. insert: soft sideways (the hole guides the peg), pushed down, until it stops
        outcome = _insert(c, p)
        if outcome == "seated":
            cell.log_event(None, "seated", attempt=attempt, depth_mm=round(1e3 * c.depth, 3))
            return done(True, "seated", depth_mm=round(1e3 * c.depth, 3))
        if outcome == "stopped":
            return done(False, "stopped")
        if attempt == p.max_attempts:
            cell.log_event(None, "gave_up", attempt=attempt, reason=outcome, depth_mm=round(1e3 * c.depth, 3))
            break
        cell.log_event(None, "retry", attempt=attempt, reason=outcome, depth_mm=round(1e3 * c.depth, 3))
        if not _lift(c, c.depth + 0.005):
            return done(False, "stopped")
    return done(False, f"not seated after {attempt} attempts", depth_mm=round(1e3 * c.depth, 3))


def _insert(c: _Compliant, p: PegInHoleParams) -> str:
    """Push the peg down the hole: "seated" at the hole's depth, "jammed" when it stops short and
    a wiggle does not free it, "not_entered" when it stays at the mouth, "stopped" on a fault."""
    # the reference where the tip is, with no lateral push left; with an admittance the tip
    # already carries the admittance's offset from the reference (the friction of the search
    # over the lateral stiffness), which a reference moved onto the tip would add a second time,
    # pulling the peg back against the hole's wall: there the reference stays and the softer
    # lateral stiffness lets the offset relax
    if not c.admittance:
        c.ref[:2, 3] = c.T[:2, 3]
    c.set_stiffness(p.insert_stiffness_n_m, p.stiffness_n_m, p.rot_stiffness_nm_rad, rot_z=2.0)
    z_final = c.z_touch - p.hole_depth_m - p.insert_force_n / p.stiffness_n_m
    still_s, wiggled, best, t = 0.0, False, c.depth, 0.0
    while True:
        speed = p.insert_speed_m_s if c.depth < p.hole_depth_m - p.slow_above_m else p.touch_speed_m_s
        c.ref[2, 3] = max(z_final, c.ref[2, 3] - speed * c.dt)
        if c.admittance:  # a peg that sticks is pushed with insert_force_n, not by the depth still to go
            c.ref[2, 3] = max(c.ref[2, 3], float(c.T[2, 3]) - p.insert_force_n / float(c.K[2]))
        if not c.tick():
            return "stopped"
        t += c.dt
        if c.depth > best + 1e-4:
            best, still_s = c.depth, 0.0
        else:
            still_s += c.dt
        if c.depth > p.hole_depth_m - 0.0005 and abs(c.vz) < 0.002 and still_s > 0.1:
            return "seated"
        if still_s > 0.5:
            if c.depth < p.chamfer_m + 0.001:
                return "not_entered"
            if wiggled:
                return "jammed"
            wiggled = True
            c.cell.log_event(None, "wiggle", depth_mm=round(1e3 * c.depth, 3))
            R0 = c.ref[:3, :3].copy()
            for k in range(int(round(1.0 / c.dt))):
                a = np.radians(0.7) * np.sin(2 * np.pi * 3.0 * k * c.dt)
                c.ref[:3, :3] = rpy_to_matrix((a, a * np.cos(2 * np.pi * 1.5 * k * c.dt), 0.0)) @ R0
                if not c.tick():
                    return "stopped"
            c.ref[:3, :3] = R0
            still_s = 0.0


def _lift(c: _Compliant, up_m: float) -> bool:
    """Up by ``up_m`` at 20 mm/s, stiff again, then hold a moment."""
    k = c.p.stiffness_n_m
    c.set_stiffness(k, k, c.p.rot_stiffness_nm_rad)
    c.ref[:2, 3] = c.T[:2, 3]
    c.ref[2, 3] = float(c.T[2, 3])
    target = c.ref[2, 3] + up_m
    while c.ref[2, 3] < target:
        c.ref[2, 3] = min(target, c.ref[2, 3] + 0.02 * c.dt)
        if not c.tick():
            return False
    return c.hold(0.1)


def _come_to_rest(c: _Compliant, max_s: float = 0.5, qd_max: float = 0.002) -> None:
    """Hold the joints (PD with gravity compensation) until they are still, so that position
    control takes over from rest (the impedance leaves the null space's slow drift)."""
    if c.admittance:
        c.hold(0.1)
        return
    law = JointPDGravity(c.model, c.dt)
    q = c.arm.read().position.copy()
    ref = JointReference(q, None, None)
    for _ in range(int(round(max_s / c.dt))):
        st = c.arm.read()
        if np.abs(st.velocity).max() < qd_max:
            break
        tau, _ = law.step(st, ref)
        c.arm.command_torques(tau)
        c.cell.tick()
        if c.arm.fault() is not None:
            c.fault = c.arm.fault()
            return


def _release(c: _Compliant, cell: Cell) -> None:
    """Open the fingers while the impedance holds the tcp where it is (no push), then lift 1 cm."""
    c.ref[:3, 3] = c.T[:3, 3]
    gripper = cell.gripper
    if gripper is not None:
        w0 = gripper.width()
        gripper.open()
        for _ in range(int(round(1.0 / c.dt))):
            if not c.tick():
                return
            if gripper.width() > w0 + 0.01:
                break
        cell.log_event(None, "released")
    _lift(c, 0.01)
