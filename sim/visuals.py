"""What a PyBullet world looks like, described generically: every body's visual shapes (boxes,
cylinders, spheres, capsules, planes, meshes with their colours) and its frames, read from
PyBullet itself (``getVisualShapeData``), so that a replay can draw any task's cell without knowing
the task.

A body is drawn in the frames of its links: the URDF link frame of the base and of each link (the
frames the visual shapes are placed in), not PyBullet's centre-of-mass frames. `FramePoseReader`
reads the poses of many such frames at once; it is what a recorder calls at run time, so it reads
raw poses and leaves the frame arithmetic to `link_frames_from_raw`, which may run elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = ["VisualShape", "BodyFrame", "scene_frames", "FramePoseReader", "fixed_bodies", "link_frames_from_raw",
           "link_frame_pose", "compose_xyzw", "invert_xyzw"]


def _pybullet():
    # imported when PyBullet is read, so that the pose arithmetic below works without it (the
    # state log's writer process uses it and never loads PyBullet)
    from officina.sim.bullet import pybullet

    return pybullet


def _kinds(p) -> dict[int, str]:
    return {p.GEOM_BOX: "box", p.GEOM_SPHERE: "sphere", p.GEOM_CYLINDER: "cylinder", p.GEOM_CAPSULE: "capsule",
            p.GEOM_MESH: "mesh", p.GEOM_PLANE: "plane"}


@dataclass(frozen=True)
class VisualShape:
    """One visual shape in its link's frame. ``size``: box full extents (x, y, z); sphere (radius,);
    cylinder and capsule (radius, length along z); plane (); mesh the scale (x, y, z) of the file
    ``mesh`` (an absolute path, or as PyBullet names it when it cannot be found)."""

    kind: str
    size: tuple[float, ...]
    pose: tuple[float, ...]  # x y z qx qy qz qw of the shape in the link frame
    rgba: tuple[float, float, float, float]
    mesh: str = ""


@dataclass(frozen=True)
class BodyFrame:
    """A link of a body (``link`` -1: the base) as a frame of the replay, with its visual shapes."""

    name: str
    body_id: int
    link: int
    shapes: tuple[VisualShape, ...]
    com_offset: tuple[float, ...]  # x y z qx qy qz qw of the centre-of-mass frame in the link frame (base only)


def _resolve_mesh(name: str) -> str:
    if not name or os.path.isabs(name):
        return name
    import pybullet_data

    for root in (os.getcwd(), pybullet_data.getDataPath()):
        cand = os.path.join(root, name)
        if os.path.isfile(cand):
            return os.path.abspath(cand)
    return name


def _shape(row, kinds: dict[int, str]) -> VisualShape | None:
    kind = kinds.get(row[2])
    if kind is None:
        return None
    dims = tuple(float(v) for v in row[3])
    if kind == "box":
        size = dims[:3]
    elif kind == "sphere":
        size = (dims[0],)
    elif kind in ("cylinder", "capsule"):  # PyBullet reports (length, radius)
        size = (dims[1], dims[0])
    elif kind == "mesh":
        size = dims[:3]
    else:
        size = ()
    mesh = _resolve_mesh(row[4].decode(errors="replace")) if kind == "mesh" else ""
    pose = tuple(float(v) for v in (*row[5], *row[6]))
    return VisualShape(kind, size, pose, tuple(float(v) for v in row[7]), mesh)


def _unique(name: str, used: set[str]) -> str:
    out, i = name, 1
    while out in used:
        i += 1
        out = f"{name}_{i}"
    used.add(out)
    return out


def scene_frames(client_id: int, names: dict[int, str] | None = None, exclude: tuple[int, ...] = (),
                 prefix: str = "scene/") -> list[BodyFrame]:
    """Every body of the world but ``exclude`` (the robot, drawn from its own URDF), one frame per
    link that has visual shapes (the base always). ``names`` maps body ids to names (a world's
    objects); other bodies are named after their URDF. Frame names are ``prefix + name`` for the
    base, ``prefix + name/link`` for links, made unique."""
    p = _pybullet()
    kinds = _kinds(p)
    names = names or {}
    used: set[str] = set()
    out: list[BodyFrame] = []
    for i in range(p.getNumBodies(physicsClientId=client_id)):
        bid = p.getBodyUniqueId(i, physicsClientId=client_id)
        if bid in exclude:
            continue
        rows = p.getVisualShapeData(bid, physicsClientId=client_id)
        by_link: dict[int, list[VisualShape]] = {}
        for row in rows:
            s = _shape(row, kinds)
            if s is not None:
                by_link.setdefault(int(row[1]), []).append(s)
        info = p.getBodyInfo(bid, physicsClientId=client_id)
        base = names.get(bid) or info[1].decode(errors="replace").rsplit(".", 1)[0] or f"body{bid}"
        base_name = _unique(prefix + base, used)
        dyn = p.getDynamicsInfo(bid, -1, physicsClientId=client_id)
        out.append(BodyFrame(base_name, bid, -1, tuple(by_link.get(-1, ())),
                             tuple(float(v) for v in (*dyn[3], *dyn[4]))))
        for link in sorted(k for k in by_link if k >= 0):
            lname = p.getJointInfo(bid, link, physicsClientId=client_id)[12].decode(errors="replace")
            out.append(BodyFrame(_unique(f"{base_name}/{lname}", used), bid, link, tuple(by_link[link]),
                                 (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)))
    return out


def fixed_bodies(client_id: int, body_ids) -> list[int]:
    """The bodies among ``body_ids`` that PyBullet's dynamics never moves: no joints and a base of
    mass 0 (a static collision object). Only a call that places such a body (a reset of its base
    pose, a change of its mass) moves it."""
    p = _pybullet()
    return [b for b in body_ids if p.getNumJoints(b, physicsClientId=client_id) == 0
            and p.getDynamicsInfo(b, -1, physicsClientId=client_id)[0] == 0.0]


class FramePoseReader:
    """Reads the raw poses of `BodyFrame` s: PyBullet's base pose (centre of mass) for a base,
    the URDF link frame for a link. ``read()`` returns (N, 7) x y z qx qy qz qw in the frames'
    order; `link_frames_from_raw` turns them into link-frame poses. Links are read with forward
    kinematics: without it PyBullet reports a link where the last step started, not where it
    left the link (where the base and the joint states already are)."""

    def __init__(self, client_id: int, frames: list[BodyFrame]) -> None:
        self._cid = int(client_id)
        self._bases = [(k, f.body_id) for k, f in enumerate(frames) if f.link < 0]
        links: dict[int, list[tuple[int, int]]] = {}
        for k, f in enumerate(frames):
            if f.link >= 0:
                links.setdefault(f.body_id, []).append((k, f.link))
        self._links = [(bid, [link for _, link in pairs]) for bid, pairs in links.items()]
        self._link_rows = {bid: [k for k, _ in pairs] for bid, pairs in links.items()}
        self._n = len(frames)
        self._p = _pybullet()

    def read(self) -> np.ndarray:
        p = self._p
        rows: list = [None] * self._n
        cid = self._cid
        for k, bid in self._bases:
            pos, orn = p.getBasePositionAndOrientation(bid, physicsClientId=cid)
            rows[k] = pos + orn
        for bid, links in self._links:
            states = p.getLinkStates(bid, links, computeForwardKinematics=1, physicsClientId=cid)
            for k, st in zip(self._link_rows[bid], states):
                rows[k] = st[4] + st[5]
        return np.array(rows, dtype=float).reshape(self._n, 7)


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz], axis=-1)


def _qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    u, w = q[..., :3], q[..., 3:4]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def compose_xyzw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b of poses x y z qx qy qz qw (broadcasting over leading axes)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.concatenate([a[..., :3] + _qrot(a[..., 3:], b[..., :3]), _qmul(a[..., 3:], b[..., 3:])], axis=-1)


def invert_xyzw(a: np.ndarray) -> np.ndarray:
    """The inverse of poses x y z qx qy qz qw."""
    a = np.asarray(a, float)
    qi = a[..., 3:] * np.array([-1.0, -1.0, -1.0, 1.0])
    return np.concatenate([-_qrot(qi, a[..., :3]), qi], axis=-1)


def link_frames_from_raw(raw: np.ndarray, com_offsets: np.ndarray, is_base: np.ndarray) -> np.ndarray:
    """Link-frame poses from `FramePoseReader.read` output ((..., N, 7)): a base's centre-of-mass
    pose times the inverse of its ``com_offset``; links unchanged."""
    raw = np.asarray(raw, float)
    fixed = compose_xyzw(raw, invert_xyzw(np.asarray(com_offsets, float)))
    return np.where(np.asarray(is_base, bool)[:, None], fixed, raw)


def link_frame_pose(client_id: int, body_id: int, link: int = -1) -> np.ndarray:
    """x y z qx qy qz qw of a body's URDF link frame (the base for -1) in the world, now."""
    p = _pybullet()
    if link >= 0:
        st = p.getLinkState(body_id, link, computeForwardKinematics=1, physicsClientId=client_id)
        return np.array([*st[4], *st[5]])
    pos, orn = p.getBasePositionAndOrientation(body_id, physicsClientId=client_id)
    dyn = p.getDynamicsInfo(body_id, -1, physicsClientId=client_id)
    return compose_xyzw(np.array([*pos, *orn]), invert_xyzw(np.array([*dyn[3], *dyn[4]])))
