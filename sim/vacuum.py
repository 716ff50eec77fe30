"""A vacuum (suction-cup) gripper in PyBullet, behind the `Gripper` interface.

Suction is modelled as what it is, a pressure force, not as an attachment: before every physics
step each cup is tested for a seal, and a sealed cup pulls the part toward itself with
``vacuum x lip area`` (and pushes itself toward the part with the opposite force). The part is
then held by its contact with the cup and by friction, so the hold ends by itself when the pull
on the part exceeds the suction force (the part leaves the lip, the seal breaks, the force
goes), when the part slides off the cup or is peeled away by a moment.

A cup seals only on a flat face: a box's face or a cylinder's end cap, with

* the cup axis within ``seal_angle_deg`` of the face normal (cup facing the face),
* the lip within ``seal_gap_m`` of the face (touching it; the gap allows for the lip's
  compliance, the collision margin and a lip pressed up to 5 mm into the face),
* the whole lip circle on the face (nothing over an edge, no face smaller than the cup).

Curved faces, edges, corners and shapes other than boxes and cylinders never seal. After a seal
the vacuum builds toward its commanded level with the time constant ``evacuation_time_s``; a
broken seal loses it at once. Every cup has its own valve: cups that do not seal leave the
vacuum of the others unchanged. ``open()`` is an active blow-off: the vacuum drops at once.

What `Gripper` calls mean for this gripper is documented on `officina.interfaces.Gripper`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pybullet as p

from officina.interfaces import GraspState
from officina.sim.world import SimRobotHandle, SimWorld

__all__ = ["FaceSeal", "SimVacuumGripper", "box_face_seal", "cylinder_cap_seal"]

# A lip may sit this far inside a face (contact penetration under the suction force).
_MAX_PRESS_M = 0.005
# The vacuum switch reports a held part above this fraction of the commanded vacuum.
_SWITCH_LEVEL = 0.5


@dataclass(frozen=True)
class FaceSeal:
    """Where a cup seals: ``normal`` (world, out of the part, toward the cup), ``point`` (the
    lip centre projected on the face, world), ``gap_m`` (lip centre above the face; negative:
    pressed in) and ``angle_rad`` (between the cup axis and the face normal)."""

    normal: np.ndarray
    point: np.ndarray
    gap_m: float
    angle_rad: float


_OTHER_AXES = ((1, 2), (0, 2), (0, 1))


def _seal(cx: float, cy: float, cz: float, zx: float, zy: float, zz: float, R, half, cylinder: bool,
          cup_radius: float, cos_max: float, max_gap_m: float):
    """The seal test on plain floats: the cup's lip centre (cx, cy, cz) relative to the shape's
    centre and its axis (zx, zy, zz), world axes; ``R`` the shape's rotation as 9 floats row by
    row, ``half`` its half extents (a cylinder: (radius, radius, half height)). Returns
    (k, s, gap, foot, cos_angle) for the face whose outward normal is s e_k (shape frame), foot
    the lip centre projected on it (shape frame); or None."""
    # into the shape's frame: R^T v
    c = (R[0] * cx + R[3] * cy + R[6] * cz, R[1] * cx + R[4] * cy + R[7] * cz, R[2] * cx + R[5] * cy + R[8] * cz)
    z = (R[0] * zx + R[3] * zy + R[6] * zz, R[1] * zx + R[4] * zy + R[7] * zz, R[2] * zx + R[5] * zy + R[8] * zz)
    for k in ((2,) if cylinder else (0, 1, 2)):  # a cylinder's curved side never seals
        for s in (1.0, -1.0):
            cos_a = -s * z[k]  # the cup facing the face
            if cos_a < cos_max:
                continue
            # Only one face can face the cup within the angle (max angle < 45 deg).
            gap = s * c[k] - half[k]
            if not (-_MAX_PRESS_M <= gap <= max_gap_m):
                return None
            u, v = _OTHER_AXES[k]
            if cylinder:
                if math.hypot(c[u], c[v]) + cup_radius > half[u]:
                    return None
            elif abs(c[u]) + cup_radius > half[u] or abs(c[v]) + cup_radius > half[v]:
                return None
            foot = [c[0], c[1], c[2]]
            foot[k] -= gap * s
            return k, s, gap, foot, cos_a
    return None


def _world_seal(hit, pos, R) -> tuple[list[float], list[float], float, float]:
    """`_seal`'s result in the world frame for a shape at ``pos`` with rotation ``R`` (9 floats):
    (normal, point, gap, cos_angle)."""
    k, s, gap, (fx, fy, fz), cos_a = hit
    normal = [s * R[k], s * R[3 + k], s * R[6 + k]]
    point = [pos[0] + R[0] * fx + R[1] * fy + R[2] * fz, pos[1] + R[3] * fx + R[4] * fy + R[5] * fz,
             pos[2] + R[6] * fx + R[7] * fy + R[8] * fz]
    return normal, point, gap, cos_a


def _face_seal(hit, pos, R) -> FaceSeal:
    normal, point, gap, cos_a = _world_seal(hit, pos, R)
    return FaceSeal(np.array(normal), np.array(point), float(gap), float(math.acos(min(1.0, cos_a))))


def box_face_seal(cup_pos, cup_z, box_pos, box_R, half_extents, cup_radius: float,
                  max_angle_rad: float, max_gap_m: float) -> FaceSeal | None:
    """The face of a box (centre ``box_pos``, rotation ``box_R``, ``half_extents``) on which a
    cup (lip centre ``cup_pos``, axis ``cup_z`` out of the cup, all world frame) seals, or None."""
    R = np.asarray(box_R, dtype=float).reshape(-1).tolist()
    d = (np.asarray(cup_pos, dtype=float) - np.asarray(box_pos, dtype=float)).tolist()
    z = np.asarray(cup_z, dtype=float).tolist()
    hit = _seal(*d, *z, R, [float(h) for h in half_extents], False, cup_radius, math.cos(max_angle_rad), max_gap_m)
    return None if hit is None else _face_seal(hit, box_pos, R)


def cylinder_cap_seal(cup_pos, cup_z, cyl_pos, cyl_R, radius: float, half_height: float,
                      cup_radius: float, max_angle_rad: float, max_gap_m: float) -> FaceSeal | None:
    """The end cap of a cylinder (axis = z of ``cyl_R``) on which a cup seals, or None (the
    curved side never seals)."""
    R = np.asarray(cyl_R, dtype=float).reshape(-1).tolist()
    d = (np.asarray(cup_pos, dtype=float) - np.asarray(cyl_pos, dtype=float)).tolist()
    z = np.asarray(cup_z, dtype=float).tolist()
    hit = _seal(*d, *z, R, [float(radius), float(radius), float(half_height)], True, cup_radius,
                math.cos(max_angle_rad), max_gap_m)
    return None if hit is None else _face_seal(hit, cyl_pos, R)


class SimVacuumGripper:
    """A vacuum gripper of suction cups (``RobotSpec.gripper.vacuum``), simulated per physics
    step (registered with `SimWorld.add_pre_step`). Parts are held by the suction force, contact
    and friction only, never by a constraint."""

    def __init__(self, world: SimWorld, robot: SimRobotHandle) -> None:
        spec = robot.spec.gripper
        if spec is None or spec.kind != "vacuum" or spec.vacuum is None:
            raise ValueError(f"robot {robot.spec.name!r} has no vacuum gripper")
        vac = spec.vacuum
        missing = [c for c in vac.cup_links if c not in robot.link_index]
        if missing:
            raise ValueError(f"robot {robot.spec.name!r}: vacuum cups {missing} are not links of its URDF")
        self._world = world
        self._cid = world.client_id
        self._body = robot.body_id
        self._spec = spec
        self._vac = vac
        self._cups = [robot.link_index[c] for c in vac.cup_links]
        self._radius = vac.cup_diameter_m / 2.0
        self._max_angle = math.radians(vac.seal_angle_deg)
        self._decay = math.exp(-world.sim_dt / vac.evacuation_time_s)
        self._command = 0.0  # commanded vacuum, fraction of full (0: vented)
        self._level = np.zeros(len(self._cups))  # vacuum built in each cup, fraction of commanded
        self._seals: list[tuple[int, int, FaceSeal] | None] = [None] * len(self._cups)
        self._shapes: dict[tuple[int, int], tuple | None] = {}
        world.add_pre_step(self._pre_step)

    # --- Gripper protocol --------------------------------------------------------------------------
    @property
    def max_width(self) -> float:
        return self._spec.max_width_m

    def open(self, width: float | None = None) -> None:
        """Vent the cups (blow-off): any part is released at once. ``width`` is ignored."""
        self._command = 0.0
        self._level[:] = 0.0
        self._seals = [None] * len(self._cups)

    def close(self, width: float = 0.0, force: float | None = None) -> None:
        """Vacuum on, regulated so that the sealed cups hold with at most ``force`` newtons
        (default: the rated force). ``width`` is ignored."""
        rated = self._spec.max_force_n
        f = rated if force is None else float(np.clip(force, 0.0, rated))
        if f <= 0.0:
            self.open()
            return
        self._command = f / rated

    def width(self) -> float:
        """``max_width`` while vented or holding a part, 0.0 while the vacuum holds nothing."""
        if self._command == 0.0 or self.holding():
            return self.max_width
        return 0.0

    def grasp_state(self) -> GraspState:
        if self._command == 0.0:
            return GraspState.OPEN
        if self.holding():
            return GraspState.HOLDING
        if any(s is not None for s in self._seals):
            return GraspState.MOVING
        return GraspState.CLOSED_EMPTY

    # --- readings beyond the protocol --------------------------------------------------------------
    def holding(self) -> bool:
        """The vacuum switch: some sealed cup has reached half of the commanded vacuum."""
        return bool(self._command > 0.0 and np.any(self._level >= _SWITCH_LEVEL))

    def sealed_cups(self) -> tuple[bool, ...]:
        return tuple(s is not None for s in self._seals)

    def held_bodies(self) -> set[int]:
        """PyBullet body ids the sealed cups are on."""
        return {s[0] for s in self._seals if s is not None}

    def suction_force_n(self) -> float:
        """Total suction force of the sealed cups now (N)."""
        return float(self._command * self._vac.cup_force_n * self._level.sum())

    # --- physics -----------------------------------------------------------------------------------
    def _shape(self, body: int, link: int):
        """(is a cylinder, half extents as for `_seal`, local position, local orientation) of a
        body's one box or cylinder collision shape; None for anything else (it never seals)."""
        key = (body, link)
        if key not in self._shapes:
            data = p.getCollisionShapeData(body, link, physicsClientId=self._cid)
            shape = None
            if len(data) == 1 and data[0][2] in (p.GEOM_BOX, p.GEOM_CYLINDER):
                kind, dims = data[0][2], data[0][3]
                if kind == p.GEOM_BOX:
                    half = [dims[0] / 2.0, dims[1] / 2.0, dims[2] / 2.0]
                else:  # PyBullet's cylinder dimensions: (height, radius, 0)
                    half = [dims[1], dims[1], dims[0] / 2.0]
                shape = (kind == p.GEOM_CYLINDER, half, data[0][5], data[0][6])
            self._shapes[key] = shape
        return self._shapes[key]

    def _shape_pose(self, body: int, link: int, local_pos, local_orn):
        """World position and rotation (9 floats, row by row) of a shape."""
        cid = self._cid
        if link < 0:
            pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=cid)
        else:
            ls = p.getLinkState(body, link, computeForwardKinematics=1, physicsClientId=cid)
            pos, orn = ls[0], ls[1]
        pos, orn = p.multiplyTransforms(pos, orn, local_pos, local_orn, physicsClientId=cid)
        return pos, p.getMatrixFromQuaternion(orn)

    def _find_seals(self) -> list[tuple[int, int, list[float], list[float]] | None]:
        """For every cup, the face it seals on (body, link, normal, point; world frame), or None. One broad-phase query
        covers all cups (a face a cup can seal on is within the lip's reach, so inside the
        cup's own box); each nearby shape's pose is read once."""
        cid = self._cid
        cups = p.getLinkStates(self._body, self._cups, computeForwardKinematics=1, physicsClientId=cid)
        reach = self._radius + self._vac.seal_gap_m + 0.01
        lips = []
        for ls in cups:
            (cx, cy, cz), (qx, qy, qz, qw) = ls[4], ls[5]
            # the cup's z axis: the third column of its rotation matrix
            lips.append((cx, cy, cz, 2.0 * (qx * qz + qw * qy), 2.0 * (qy * qz - qw * qx), 1.0 - 2.0 * (qx * qx + qy * qy)))
        xs, ys, zs = [c[0] for c in lips], [c[1] for c in lips], [c[2] for c in lips]
        lo = [min(xs) - reach, min(ys) - reach, min(zs) - reach]
        hi = [max(xs) + reach, max(ys) + reach, max(zs) + reach]
        shapes = []
        for body, link in p.getOverlappingObjects(lo, hi, physicsClientId=cid) or ():
            if body == self._body:
                continue
            shape = self._shape(body, link)
            if shape is not None:
                shapes.append((body, link, shape, *self._shape_pose(body, link, shape[2], shape[3])))
        cos_max = math.cos(self._max_angle)
        out: list[tuple[int, int, FaceSeal] | None] = []
        for cx, cy, cz, zx, zy, zz in lips:
            best = None
            for body, link, (cylinder, half, _, _), pos, R in shapes:
                hit = _seal(cx - pos[0], cy - pos[1], cz - pos[2], zx, zy, zz, R, half, cylinder, self._radius,
                            cos_max, self._vac.seal_gap_m)
                if hit is not None and (best is None or abs(hit[2]) < abs(best[2][2])):
                    best = (body, link, hit, pos, R)
            out.append(None if best is None else (best[0], best[1], *_world_seal(best[2], best[3], best[4])[:2]))
        return out

    def _pre_step(self) -> None:
        if self._command == 0.0:
            return
        cid = self._cid
        f_full = self._command * self._vac.cup_force_n
        awake: set[int] = set()
        for i, (cup, seal) in enumerate(zip(self._cups, self._find_seals())):
            if seal is None:
                self._level[i] = 0.0
                self._seals[i] = None
                continue
            body, link, normal, point = seal
            if body not in awake:
                # Bullet ignores forces on a body it has put to sleep (at rest for a while, e.g.
                # held still in the air): keep what the cups hold awake.
                p.changeDynamics(body, link, activationState=p.ACTIVATION_STATE_WAKE_UP, physicsClientId=cid)
                awake.add(body)
            self._seals[i] = seal
            self._level[i] = 1.0 - (1.0 - self._level[i]) * self._decay
            f = self._level[i] * f_full
            force = [f * normal[0], f * normal[1], f * normal[2]]
            p.applyExternalForce(body, link, force, point, p.WORLD_FRAME, physicsClientId=cid)
            p.applyExternalForce(self._body, cup, [-force[0], -force[1], -force[2]], point, p.WORLD_FRAME,
                                 physicsClientId=cid)
