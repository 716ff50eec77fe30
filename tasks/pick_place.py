"""pick-place: N objects at seeded random poses on the table; pick each, place it in a bin.

The procedure perceives the objects with an overhead RGB-D camera
(`officina.vision.localize_objects`: depth -> table-top segmentation -> box/cylinder, pose), grasps from above with a force-limited gripper (no attachment constraints),
and places each object in its own slot of the bin. The bin's place in the cell is part of
the cell layout (configuration); the objects' poses are not: they are perceived.

The table and the bin's floor and walls are a planning scene (`planning_scene`): the simulator
builds them from it and the skills plan around them; perceived objects join the scene as
obstacles, and the object in the gripper is attached to the tcp while it is carried.

Success: every object resting inside the bin at the end (ground truth, metrics only).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from officina.controllers.model import rpy_to_matrix
from officina.controllers.planning.scene import Box, Cylinder, Obstacle, PlanningScene
from officina.controllers.skills import Skills, SkillStatus
from officina.interfaces import CameraIntrinsics
from officina.tasks.base import (
    Cell, MetricInfo, ProcedureOutcome, StrictParams, TaskDefinition, TaskScene, require_gripper,
)
from officina.vision.localize import LocalizeParams, localize_objects

__all__ = ["PickPlace", "PickPlaceParams"]


class ObjectParams(StrictParams):
    kinds: list[Literal["box", "cylinder"]] = Field(default_factory=lambda: ["box", "cylinder"], min_length=1)
    width_m: tuple[float, float] = (0.04, 0.055)  # box side / cylinder diameter, sampled uniformly
    height_m: tuple[float, float] = (0.045, 0.07)
    mass_kg: tuple[float, float] = (0.1, 0.3)
    friction: float = Field(1.0, gt=0, le=3)

    @model_validator(mode="after")
    def _ranges(self) -> "ObjectParams":
        for nm in ("width_m", "height_m", "mass_kg"):
            lo, hi = getattr(self, nm)
            if not (0 < lo <= hi):
                raise ValueError(f"{nm} must be a range (low, high) with 0 < low <= high")
        if self.width_m[1] > 0.07:
            raise ValueError("width_m above 0.07 m does not fit the grippers (max opening 0.08 m)")
        return self


class PickPlaceParams(StrictParams):
    n_objects: int = Field(3, ge=1, le=6)
    objects: ObjectParams = ObjectParams()
    region_x: tuple[float, float] = (0.38, 0.62)  # pick region in the base/world frame [m]
    region_y: tuple[float, float] = (-0.36, -0.06)
    min_separation_m: float = Field(0.1, gt=0)
    table_z: float = 0.0
    bin_center_xy: tuple[float, float] = (0.42, 0.34)
    bin_inner_size_m: tuple[float, float] = (0.24, 0.24)
    bin_wall_height_m: float = Field(0.08, gt=0.01, le=0.3)
    camera_eye: tuple[float, float, float] = (0.5, -0.21, 0.95)
    camera_target: tuple[float, float, float] = (0.5, -0.21, 0.0)
    camera_fov_deg: float = Field(58.0, gt=10, lt=120)
    camera_size: tuple[int, int] = (640, 480)
    velocity_scale: float = Field(0.5, gt=0, le=1)
    linear_speed_m_s: float = Field(0.2, gt=0, le=1)
    approach_height_m: float = Field(0.1, gt=0.02, le=0.4)
    grasp_depth_m: float = Field(0.02, gt=0.0, le=0.05)
    grasp_force_n: float = Field(25.0, gt=0)
    max_attempts: int = Field(2, ge=1, le=5)
    padding_m: float = Field(0.005, ge=0.0, le=0.05)  # planning clearance to the scene

    @model_validator(mode="after")
    def _geometry(self) -> "PickPlaceParams":
        if self.region_x[0] >= self.region_x[1] or self.region_y[0] >= self.region_y[1]:
            raise ValueError("region_x and region_y must be ranges (low, high)")
        return self


def _tcp_down(x: float, y: float, z: float, psi: float, R_down: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = rpy_to_matrix((0.0, 0.0, psi)) @ R_down
    T[:3, 3] = (x, y, z)
    return T


def _failures(failed: list[list[float]], position) -> int:
    return next((int(f[2]) for f in failed if np.hypot(f[0] - position[0], f[1] - position[1]) < 0.02), 0)


def _fail(failed: list[list[float]], position) -> None:
    for f in failed:
        if np.hypot(f[0] - position[0], f[1] - position[1]) < 0.02:
            f[2] += 1
            return
    failed.append([float(position[0]), float(position[1]), 1])


def _grasp_yaws(obj, psi_home: float, max_width: float) -> list[float]:
    """Grasp yaws (tcp yaw about world z) to try, best first. The fingers close along the tcp y
    axis: across a box's width (yaw = its long side), or across its length when that fits the
    gripper (a neighbour may be in the way of the first); any direction for a cylinder. Each yaw is
    taken modulo pi (a symmetric gripper) closest to the home yaw (no wrist wrap)."""
    def near_home(psi: float) -> float:
        return psi_home + ((psi - psi_home + np.pi / 2) % np.pi - np.pi / 2)

    if obj.kind == "box":
        yaws = [obj.yaw_rad]
        if max(obj.size_m[:2]) < max_width - 0.01:
            yaws.append(obj.yaw_rad + np.pi / 2)
    else:
        yaws = [psi_home, psi_home + np.pi / 2]
    return [near_home(p) for p in yaws]


def _recover(sk: Skills, model, up_m: float = 0.05) -> None:
    """After a protective stop: let the arm come to rest, clear the stop, back off upwards (out
    of the contact it stopped in)."""
    sk.settle(0.2)
    sk.clear_fault()
    T = model.frame_transform(sk.q_command, "tcp")
    T[2, 3] += up_m
    sk.move_line(T, escape_m=0.03)


def sk_yaw(model, q) -> float:
    """The tcp's yaw about world z at q (for a tcp pointing down)."""
    T = model.frame_transform(q, "tcp")
    return float(np.arctan2(T[1, 0], T[0, 0]))


def _bin_slots(n: int, inner: tuple[float, float], width: float) -> list[tuple[float, float]]:
    """Slot centres in the bin (relative to its centre) for n objects of about ``width``: at most
    two rows across the bin's y, so that the fingers, which open along y when placing, keep clear
    of the y walls; as many columns along x as that takes."""
    ky = 1 if n == 1 else 2
    kx = int(np.ceil(n / ky))
    pitch_x = inner[0] / kx
    pitch_y = inner[1] / ky
    slots = [((i + 0.5) * pitch_x - inner[0] / 2, (j + 0.5) * pitch_y - inner[1] / 2)
             for i in range(kx) for j in range(ky)]
    return slots[:n]


def _obstacle(name: str, o) -> Obstacle:
    """A perceived object as an obstacle of the planning scene (world frame)."""
    quat = (0.0, 0.0, float(np.sin(o.yaw_rad / 2)), float(np.cos(o.yaw_rad / 2)))
    if o.kind == "cylinder":
        shape = Cylinder(float(max(o.size_m[0], o.size_m[1])) / 2, float(o.size_m[2]))
    else:
        shape = Box(tuple(float(v) for v in o.size_m))
    return Obstacle(name, shape, tuple(float(v) for v in o.position), quat)


class PickPlace(TaskDefinition):
    name = "pick-place"
    gripper_kind = "parallel"
    description = "Pick N seeded objects from the table (seen by an overhead RGB-D camera) and place them in a bin."
    Params = PickPlaceParams
    metric_info = {
        "objects_placed": MetricInfo("", "objects resting inside the bin at the end", "higher", "objects placed"),
        "objects_total": MetricInfo("", "objects on the table at the start", None, "objects"),
    }
    key_metrics = ("objects_placed", "objects_total")
    plot_events = ("pick", "placed")

    # --- the cell's fixed geometry (data: the simulator and the planner read it) ----------------------
    def planning_scene(self, params: PickPlaceParams) -> PlanningScene:
        """The table (1.3 x 1.2 x 0.05 m, top at ``table_z``) and the open bin (floor and four
        walls, 0.01 m thick), poses in the world frame."""
        tz = params.table_z
        t, h = 0.01, params.bin_wall_height_m
        ix, iy = params.bin_inner_size_m
        cx, cy = params.bin_center_xy
        parts = [
            Obstacle("table", Box((1.3, 1.2, 0.05)), (0.35, 0.0, tz - 0.025)),
            Obstacle("bin_floor", Box((ix + 2 * t, iy + 2 * t, t)), (cx, cy, tz + t / 2)),
            Obstacle("bin_wall_x+", Box((t, iy + 2 * t, h)), (cx + ix / 2 + t / 2, cy, tz + h / 2)),
            Obstacle("bin_wall_x-", Box((t, iy + 2 * t, h)), (cx - ix / 2 - t / 2, cy, tz + h / 2)),
            Obstacle("bin_wall_y+", Box((ix, t, h)), (cx, cy + iy / 2 + t / 2, tz + h / 2)),
            Obstacle("bin_wall_y-", Box((ix, t, h)), (cx, cy - iy / 2 - t / 2, tz + h / 2)),
        ]
        return PlanningScene(parts)

    # --- simulation side ---------------------------------------------------------------------------
    def build_scene(self, world, params: PickPlaceParams, rng: np.random.Generator) -> TaskScene:
        require_gripper(world, self.gripper_kind, "pick-place", "its parts are 4-5.5 cm, smaller than a suction cup")
        scene = self.planning_scene(params)
        colors = {o.name: (0.3, 0.3, 0.32, 1.0) for o in scene.obstacles}
        colors["table"] = (0.72, 0.6, 0.45, 1.0)
        fixtures = world.add_planning_scene(scene, colors=colors)
        op = params.objects
        placed: list[np.ndarray] = []
        objects = []
        colors = [(0.85, 0.25, 0.2, 1), (0.2, 0.6, 0.3, 1), (0.2, 0.4, 0.85, 1), (0.9, 0.7, 0.1, 1),
                  (0.6, 0.3, 0.7, 1), (0.1, 0.7, 0.7, 1)]
        for i in range(params.n_objects):
            for _ in range(1000):
                xy = np.array([rng.uniform(*params.region_x), rng.uniform(*params.region_y)])
                margin = 0.04
                inside = (params.region_x[0] + margin < xy[0] < params.region_x[1] - margin
                          and params.region_y[0] + margin < xy[1] < params.region_y[1] - margin)
                if inside and all(np.linalg.norm(xy - o) >= params.min_separation_m for o in placed):
                    break
            else:
                raise ValueError(
                    f"cannot place {params.n_objects} objects {params.min_separation_m} m apart in the pick region"
                )
            placed.append(xy)
            kind = op.kinds[int(rng.integers(len(op.kinds)))]
            width = float(rng.uniform(*op.width_m))
            height = float(rng.uniform(*op.height_m))
            mass = float(rng.uniform(*op.mass_kg))
            yaw = float(rng.uniform(-np.pi, np.pi))
            quat = (0.0, 0.0, float(np.sin(yaw / 2)), float(np.cos(yaw / 2)))
            pos = (float(xy[0]), float(xy[1]), params.table_z + height / 2 + 1e-4)
            if kind == "box":
                depth = float(rng.uniform(*op.width_m))
                obj = world.add_box((width, depth, height), mass, pos, quat, friction=op.friction,
                                    color=colors[i % len(colors)], name=f"object{i}")
            else:
                obj = world.add_cylinder(width / 2, height, mass, pos, quat, friction=op.friction,
                                         color=colors[i % len(colors)], name=f"object{i}")
            objects.append(obj)
        world.step(200)  # let everything settle (the run's clock starts after the scene is built)
        return TaskScene(objects=objects, fixtures=fixtures)

    def make_camera(self, world, params: PickPlaceParams):
        from officina.sim.camera import SimCamera, look_at

        intr = CameraIntrinsics.from_fov(params.camera_size[0], params.camera_size[1], params.camera_fov_deg)
        # "up" of the image along world -x: the camera looks straight down.
        return SimCamera(world.client_id, intr, look_at(params.camera_eye, params.camera_target, up=(-1.0, 0.0, 0.0)),
                         near=0.05, far=3.0, stamp_fn=lambda: world.time)

    def metrics(self, world, scene: TaskScene, params: PickPlaceParams) -> dict[str, Any]:
        bx, by = params.bin_center_xy
        ix, iy = params.bin_inner_size_m
        in_bin = []
        for obj in scene.objects:
            pos, _ = world.object_pose(obj.body_id)
            lin, _ = world.object_velocity(obj.body_id)
            inside = (
                abs(pos[0] - bx) < ix / 2
                and abs(pos[1] - by) < iy / 2
                and params.table_z < pos[2] < params.table_z + params.bin_wall_height_m + 0.02
                and float(np.linalg.norm(lin)) < 0.05
            )
            in_bin.append(bool(inside))
        placed = int(sum(in_bin))
        return {
            "success": placed == len(scene.objects),
            "objects_placed": placed,
            "objects_total": len(scene.objects),
        }

    # --- the same job by hand -------------------------------------------------------------------------
    WORK_SURFACE_HEIGHT_M = 0.90

    def manual_job(self, params: PickPlaceParams):
        """A worker picks each object from the table and places it in the bin, standing in the robot's
        place. Assumed: the table top is a standing workbench ``WORK_SURFACE_HEIGHT_M`` (0.90 m) above
        the floor; the mid-point between the worker's ankles is below the robot base (the world
        origin of the layout), the feet pointing between the pick region's centre and the bin's
        centre, so both reaches are equally asymmetric; each lift is taken at the centre of the pick
        region and of the bin, the hands at mid-height of the tallest object; the heaviest object's
        mass is the load (the RNLE judges the maximum); small objects the hand wraps around: good
        coupling; placing in a slot needs control at the destination."""
        from officina.exoskeleton.job import HandLocation, ManualJob, Move

        def floor_z(z_world: float) -> float:
            return self.WORK_SURFACE_HEIGHT_M + (z_world - params.table_z)

        pick = np.array([np.mean(params.region_x), np.mean(params.region_y)])
        place = np.array(params.bin_center_xy, dtype=float)
        bearing = [float(np.arctan2(v[1], v[0])) for v in (pick, place)]
        half_turn = abs(float(np.degrees((bearing[1] - bearing[0] + np.pi) % (2 * np.pi) - np.pi))) / 2.0
        grip = params.objects.height_m[1] / 2.0
        bin_floor = 0.01  # the bin's floor plate (officina.sim.world.SimWorld.add_bin)
        move = Move(
            name="object to bin",
            load_kg=params.objects.mass_kg[1],
            mean_load_kg=float(np.mean(params.objects.mass_kg)),
            origin=HandLocation(float(np.linalg.norm(pick)), floor_z(params.table_z + grip), half_turn),
            destination=HandLocation(float(np.linalg.norm(place)), floor_z(params.table_z + bin_floor + grip), half_turn),
            count_per_cycle=params.n_objects,
            coupling="good",
            control_at_destination=True,
        )
        return ManualJob(self.name, (move,), assumptions=(
            f"table top {self.WORK_SURFACE_HEIGHT_M:.2f} m above the floor (standing workbench)",
            "worker stands in the robot's place (ankles below the robot base), feet pointing between "
            "the pick region and the bin",
            "each lift at the centre of the pick region and of the bin, hands at mid-height of the tallest object",
            "load: the heaviest object of the mass range; coupling good; control at the destination",
        ))

    # --- the procedure (interfaces only) -----------------------------------------------------------
    def procedure(self, cell: Cell, params: PickPlaceParams) -> ProcedureOutcome:
        model = cell.model
        # The cell's scene as the run gives it (else the layout from the parameters), as a
        # copy: perceived objects are added to it.
        scene = (cell.planning_scene if cell.planning_scene is not None else self.planning_scene(params)).copy()
        sk = Skills(cell.arm, cell.gripper, model, cell.tick, rng=cell.rng,
                    velocity_scale=params.velocity_scale, linear_speed_m_s=params.linear_speed_m_s,
                    min_link_z=params.table_z + 0.03, planning_scene=scene, padding_m=params.padding_m,
                    world_T_base=cell.world_T_base)
        home = model.spec.home
        T_home = model.frame_transform(home, "tcp")
        R_down = np.diag([1.0, -1.0, -1.0])  # tcp z pointing down, tcp x along world x
        # The home yaw of the tcp about world z: keep grasps close to it (no wrist wrap).
        psi_home = float(np.arctan2(T_home[1, 0], T_home[0, 0]))
        world_T_base = cell.world_T_base
        base_T_world = np.linalg.inv(world_T_base)

        def base_pose(x, y, z, psi):
            return base_T_world @ _tcp_down(x, y, z, psi, R_down)

        r = sk.move_joints(home)
        if cell.gripper is not None:
            sk.release()
        slots = _bin_slots(params.n_objects, params.bin_inner_size_m, params.objects.width_m[1])
        placed = 0
        attempts = 0
        failed: list[list[float]] = []  # [x, y, failures] of objects that could not be picked
        bin_floor = params.table_z + 0.01
        # Perceive from a view pose above the bin, out of the camera's view of the pick region.
        view_z = params.table_z + params.bin_wall_height_m + 0.25
        view = base_pose(params.bin_center_xy[0], params.bin_center_xy[1], view_z, psi_home)
        while attempts < params.n_objects * params.max_attempts and placed < params.n_objects:
            attempts += 1
            if cell.arm.fault() is not None:  # a stop on contact during the last placement
                cell.log_event(None, "protective_stop", reason=cell.arm.fault())
                _recover(sk, model)
            r = sk.move_to_pose(view)
            if r.status == SkillStatus.PROTECTIVE_STOP:
                # the arm stopped on contact on its way: back off upwards and try once more
                cell.log_event(None, "protective_stop", reason=r.message)
                _recover(sk, model)
                r = sk.move_to_pose(view)
            if not r.ok:
                return ProcedureOutcome(False, f"view pose unreachable: {r.message}")
            t_now = cell.arm.read().stamp
            frame = cell.camera.capture()
            objs = localize_objects(
                frame, cell.camera.intrinsics, cell.camera.extrinsics(),
                LocalizeParams(table_height_m=params.table_z, xy_bounds=(*params.region_x, *params.region_y)),
            )
            # what is larger than a graspable object is not one (an arm link, a fixture)
            objs = [o for o in objs if max(o.size_m[:2]) <= 0.12 and o.size_m[2] < 0.2]
            cell.log_event(t_now, "perceived", n_objects=len(objs))
            for name in [ob.name for ob in scene.obstacles if ob.name.startswith("perceived")]:
                scene.remove(name)
            for k, ob in enumerate(objs):
                scene.add(_obstacle(f"perceived{k}", ob))
            # the first object not given up on (an object is known by where it lies, 2 cm)
            pick = next(((k, ob) for k, ob in enumerate(objs)
                         if _failures(failed, ob.position) < params.max_attempts), None)
            if pick is None:
                for ob in objs:
                    cell.log_event(None, "give_up", x=round(float(ob.position[0]), 4),
                                   y=round(float(ob.position[1]), 4), attempts=_failures(failed, ob.position))
                break
            k, o = pick
            top_z = float(o.position[2] + o.size_m[2] / 2)
            height = top_z - params.table_z
            grasp_z = top_z - min(params.grasp_depth_m, 0.5 * height)
            above_z = top_z + params.approach_height_m
            x, y = float(o.position[0]), float(o.position[1])
            cell.log_event(t_now, "pick", kind=o.kind, x=round(x, 4), y=round(y, 4), top_z=round(top_z, 4))
            target = scene.remove(f"perceived{k}")  # the fingers go around it
            psi, r = None, None
            for cand in _grasp_yaws(o, psi_home, cell.gripper.max_width if cell.gripper else 0.0):
                r = sk.move_to_pose(base_pose(x, y, above_z, cand))
                if not r.ok:
                    continue
                r = sk.move_line(base_pose(x, y, grasp_z, cand))
                if r.ok:
                    psi = cand
                    break
                if r.status == SkillStatus.PROTECTIVE_STOP:
                    break
            if psi is None:
                _fail(failed, o.position)
                cell.log_event(None, "skip", reason=r.message if r is not None else "no grasp fits the gripper")
                if r is not None and r.status == SkillStatus.PROTECTIVE_STOP:
                    _recover(sk, model)
                else:
                    sk.move_line(base_pose(x, y, above_z, sk_yaw(model, sk.q_command)))
                continue
            g = sk.grasp(params.grasp_force_n)
            g_width = sk.gripper.width() if sk.gripper else 0.0
            if not g.ok:
                _fail(failed, o.position)
                cell.log_event(cell.arm.read().stamp, "grasp_failed", reason=g.message)
                sk.release()
                sk.move_line(base_pose(x, y, above_z, psi))
                continue
            # Carried: the object moves with the tcp (checked against the scene, not the fingers),
            # attached once it is lifted off the table it stands on.
            tcp_T_obj = np.linalg.inv(model.frame_transform(sk.q_command, "tcp")) @ base_T_world @ target.pose
            sk.move_line(base_pose(x, y, above_z + 0.05, psi))
            scene.attach("carried", target.shape, tcp_T_obj)
            sx, sy = slots[placed % len(slots)]
            bx, by = params.bin_center_xy[0] + sx, params.bin_center_xy[1] + sy
            carry_z = params.table_z + params.bin_wall_height_m + height + 0.08
            r = sk.move_to_pose(base_pose(bx, by, max(carry_z, above_z + 0.05), psi_home))
            if not r.ok:
                cell.log_event(cell.arm.read().stamp, "place_unreachable", reason=r.message)
                scene.detach("carried")
                sk.release()
                continue
            release_z = bin_floor + (height - (top_z - grasp_z)) + 0.015
            r = sk.move_line(base_pose(bx, by, release_z, psi_home))
            if not r.ok:
                cell.log_event(cell.arm.read().stamp, "place_blocked", reason=r.message)
            scene.detach("carried")
            # Open only a little in the bin (the fingers fit between the part and the wall).
            sk.release(width_m=g_width + 0.01)
            sk.move_line(base_pose(bx, by, max(carry_z, above_z + 0.05), psi_home))
            sk.release()
            placed += 1
            cell.log_event(cell.arm.read().stamp, "placed", slot=placed)
            failed.clear()  # the table changed: what was blocked by this object may be free now
        sk.move_joints(home)
        sk.settle(0.3)
        return ProcedureOutcome(True, details={"attempts": attempts, "placements": placed})
