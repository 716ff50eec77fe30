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


def _facing(cup_z_local: np.ndarray, n_local: np.ndarray, cos_max: float) -> float | None:
    c = float(-cup_z_local @ n_local)
    return c if c >= cos_max else None


def box_face_seal(cup_pos, cup_z, box_pos, box_R, half_extents, cup_radius: float,
                  max_angle_rad: float, max_gap_m: float) -> FaceSeal | None:
    """The face of a box (centre ``box_pos``, rotation ``box_R``, ``half_extents``) on which a
    cup (lip centre ``cup_pos``, axis ``cup_z`` out of the cup, all world frame) seals, or None."""
    R = np.asarray(box_R, dtype=float)
    c = R.T @ (np.asarray(cup_pos, dtype=float) - np.asarray(box_pos, dtype=float))
    z = R.T @ np.asarray(cup_z, dtype=float)
    h = np.asarray(half_extents, dtype=float)
    cos_max = math.cos(max_angle_rad)
    for k in range(3):
        for s in (1.0, -1.0):
            n = np.zeros(3)
            n[k] = s
            cos_a = _facing(z, n, cos_max)
            if cos_a is None:
                continue
            # Only one face can face the cup within the angle (max angle < 45 deg).
            gap = s * c[k] - h[k]
            if not (-_MAX_PRESS_M <= gap <= max_gap_m):
                return None
            u, v = [i for i in range(3) if i != k]
            if abs(c[u]) + cup_radius > h[u] or abs(c[v]) + cup_radius > h[v]:
                return None
            foot = c - gap * n
            return FaceSeal(R @ n, np.asarray(box_pos, float) + R @ foot, float(gap),
                            float(math.acos(min(1.0, cos_a))))
    return None


def cylinder_cap_seal(cup_pos, cup_z, cyl_pos, cyl_R, radius: float, half_height: float,
                      cup_radius: float, max_angle_rad: float, max_gap_m: float) -> FaceSeal | None:
    """The end cap of a cylinder (axis = z of ``cyl_R``) on which a cup seals, or None (the
    curved side never seals)."""
    R = np.asarray(cyl_R, dtype=float)
    c = R.T @ (np.asarray(cup_pos, dtype=float) - np.asarray(cyl_pos, dtype=float))
    z = R.T @ np.asarray(cup_z, dtype=float)
    cos_max = math.cos(max_angle_rad)
    for s in (1.0, -1.0):
        n = np.array([0.0, 0.0, s])
        cos_a = _facing(z, n, cos_max)
        if cos_a is None:
            continue
        gap = s * c[2] - half_height
        if not (-_MAX_PRESS_M <= gap <= max_gap_m):
            return None
        if math.hypot(c[0], c[1]) + cup_radius > radius:
            return None
        foot = c - gap * n
        return FaceSeal(R @ n, np.asarray(cyl_pos, float) + R @ foot, float(gap),
                        float(math.acos(min(1.0, cos_a))))
    return None


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
        key = (body, link)
        if key not in self._shapes:
            data = p.getCollisionShapeData(body, link, physicsClientId=self._cid)
            ok = len(data) == 1 and data[0][2] in (p.GEOM_BOX, p.GEOM_CYLINDER)
            self._shapes[key] = (data[0][2], data[0][3], data[0][5], data[0][6]) if ok else None
        return self._shapes[key]

    def _shape_pose(self, body: int, link: int, local_pos, local_orn):
        cid = self._cid
        if link < 0:
            pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=cid)
        else:
            ls = p.getLinkState(body, link, computeForwardKinematics=1, physicsClientId=cid)
            pos, orn = ls[0], ls[1]
        pos, orn = p.multiplyTransforms(pos, orn, local_pos, local_orn, physicsClientId=cid)
        return np.asarray(pos), np.asarray(p.getMatrixFromQuaternion(orn)).reshape(3, 3)

    def _find_seal(self, cup: int) -> tuple[int, int, FaceSeal] | None:
        cid = self._cid
        ls = p.getLinkState(self._body, cup, computeForwardKinematics=1, physicsClientId=cid)
        c = np.asarray(ls[4])
        z = np.asarray(p.getMatrixFromQuaternion(ls[5])).reshape(3, 3)[:, 2]
        reach = self._radius + self._vac.seal_gap_m + 0.01
        found = p.getOverlappingObjects((c - reach).tolist(), (c + reach).tolist(), physicsClientId=cid) or []
        best = None
        for body, link in found:
            if body == self._body:
                continue
            shape = self._shape(body, link)
            if shape is None:
                continue
            kind, dims, lpos, lorn = shape
            pos, R = self._shape_pose(body, link, lpos, lorn)
            if kind == p.GEOM_BOX:
                seal = box_face_seal(c, z, pos, R, np.asarray(dims) / 2.0, self._radius,
                                     self._max_angle, self._vac.seal_gap_m)
            else:  # PyBullet's cylinder dimensions: (height, radius, 0)
                seal = cylinder_cap_seal(c, z, pos, R, dims[1], dims[0] / 2.0, self._radius,
                                         self._max_angle, self._vac.seal_gap_m)
            if seal is not None and (best is None or abs(seal.gap_m) < abs(best[2].gap_m)):
                best = (body, link, seal)
        return best

    def _pre_step(self) -> None:
        if self._command == 0.0:
            return
        cid = self._cid
        f_full = self._command * self._vac.cup_force_n
        awake: set[int] = set()
        for i, cup in enumerate(self._cups):
            seal = self._find_seal(cup)
            if seal is None:
                self._level[i] = 0.0
                self._seals[i] = None
                continue
            body, link, face = seal
            if body not in awake:
                # Bullet ignores forces on a body it has put to sleep (at rest for a while, e.g.
                # held still in the air): keep what the cups hold awake.
                p.changeDynamics(body, link, activationState=p.ACTIVATION_STATE_WAKE_UP, physicsClientId=cid)
                awake.add(body)
            self._seals[i] = seal
            self._level[i] = 1.0 - (1.0 - self._level[i]) * self._decay
            force = (self._level[i] * f_full) * face.normal
            point = face.point.tolist()
            p.applyExternalForce(body, link, force.tolist(), point, p.WORLD_FRAME, physicsClientId=cid)
            p.applyExternalForce(self._body, cup, (-force).tolist(), point, p.WORLD_FRAME, physicsClientId=cid)
