"""Collision checking of the robot against itself and the planning scene (Pinocchio + coal).

The robot's collision model is its URDF's collision geometry (gripper included: the same file
the simulator loads), built into a Pinocchio ``GeometryModel`` over the arm joints, with the
gripper's fingers locked fully open (the widest the gripper gets). Meshes are replaced by their
convex hulls, as PyBullet does for the links of a robot (computed once per URDF and mesh files,
and kept on disk beside officina's composed URDFs). Obstacles of the `PlanningScene` are
fixed geometries; attached objects ride on their frame (the tcp) and are checked against the
scene and the arm, not against the gripper's links (the links at or beyond the flange).

Self-collision pairs are filtered as MoveIt's setup assistant does: pairs of adjacent links
(links without geometry are skipped, so their neighbours become adjacent), pairs in collision at
the home pose or in nearly every sample, and pairs never in collision over many random samples
are disabled. The result is kept per robot as an SRDF file (``<robot>.srdf`` next to the robot
YAML, written by ``officina collision-pairs``); without one it is computed when first needed.

Margins: robot-environment pairs (and attached objects) count as colliding closer than
``padding_m``; self-collision pairs at contact (``self_padding_m``, default 0).

Checks are boolean (is any pair closer than its margin?): Pinocchio's broadphase manager
(inflated bounding boxes, coal's narrowphase only where they overlap, stop at the first
collision), each pair's margin set in one call.

Motions are proved, not sampled: for a joint-space step ``dq``, pair k's distance changes by
at most ``W_k . |dq|``, where ``W_ki`` bounds the distance from joint i's origin to the
geometry that joint i moves relative to the other one (zero for the joints that move both or
neither). A configuration where every pair keeps its margin plus that bound for a stretch
around it proves the whole stretch; stretches are halved until proved (`check_path`).
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import coal
import numpy as np
import pinocchio as pin

from officina.controllers.model import RobotModel, rpy_to_matrix
from officina.controllers.planning.scene import Box, Cylinder, Mesh, PlanningScene, Shape, Sphere
from officina.interfaces import RobotSpec

__all__ = [
    "CollisionChecker", "Contact", "TrajectoryCheck", "compute_disabled_pairs", "srdf_path_for",
    "write_srdf",
]


@dataclass(frozen=True)
class Contact:
    """Two things closer than their margin: link names, ``obstacle:NAME`` or ``attached:NAME``."""

    a: str
    b: str

    def __str__(self) -> str:
        return f"{self.a} touches {self.b}"


@dataclass(frozen=True)
class TrajectoryCheck:
    ok: bool
    n_checks: int
    index: int | None = None  # a sample (or segment) next to where the check failed
    contacts: tuple[Contact, ...] = ()
    resolution_m: float = 0.0
    where: float = 0.0  # where on that segment it failed, in [0, 1]
    segment: int | None = None  # the segment (polyline) or chord (sampled path) that failed


def _shape_geometry(shape: Shape) -> coal.CollisionGeometry:
    if isinstance(shape, Box):
        return coal.Box(*[float(s) for s in shape.size])
    if isinstance(shape, Cylinder):
        return coal.Cylinder(float(shape.radius), float(shape.length))
    if isinstance(shape, Sphere):
        return coal.Sphere(float(shape.radius))
    if isinstance(shape, Mesh):
        try:
            return coal.MeshLoader().load(shape.file, np.asarray(shape.scale, dtype=float))
        except Exception as exc:  # coal's loader raises with a multi-line C++ trace
            raise ValueError(f"mesh {shape.file}: cannot load it ({_loader_reason(exc)}); "
                             "expected a triangle mesh file (.obj, .stl)") from None
    raise ValueError(f"unknown shape {shape!r}")


def _loader_reason(exc: Exception) -> str:
    """The lines of a coal/assimp loading error that say what is wrong, as one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    skip = ("From file:", "in function:", "at line:", "Hint:", "message: Could not load resource")
    why = [ln.removeprefix("message: ") for ln in lines if not ln.startswith(skip)]
    return "; ".join(why) or (lines[-1] if lines else type(exc).__name__)


def _bounding_radius(geom: coal.CollisionGeometry, placement: pin.SE3) -> float:
    """Radius of a ball about the parent frame's origin holding ``geom`` placed at ``placement``."""
    geom.computeLocalAABB()
    centre = placement.act(np.asarray(geom.aabb_center, dtype=float))
    return float(np.linalg.norm(centre) + geom.aabb_radius)


_GJK_TOL = 1e-4  # m: distances are taken this much smaller than GJK reports
# Stretches over which a pair's distance may change more than this are only probed at their
# midpoints (a cell's clearances are smaller: proving them would fail and cost a distance
# computation per nearby pair); shorter ones are proved.
_PROBE_ABOVE_M = 0.25
# A stretch that fails its proof is split; when its pairs may move more than this over it, its
# midpoint is also checked with the margin alone (a collision there fails the motion at once).
_EXACT_ABOVE_M = 0.02


# --- the robot's geometry, built once per robot ---------------------------------------------------
class _RobotGeometry:
    """Reduced model (arm joints), robot-only GeometryModel, link facts and motion bounds."""

    def __init__(self, spec: RobotSpec, finger_width_m: float | None = None) -> None:
        full, gfull = _urdf_geometry(spec.urdf)
        q_lock = pin.neutral(full)
        lock = []
        arm = set(spec.joint_names)
        for jid in range(1, full.njoints):
            if full.names[jid] in arm:
                continue
            lock.append(jid)
            if spec.gripper and full.names[jid] in spec.gripper.finger_joints:
                g = spec.gripper
                width = g.max_width_m if finger_width_m is None else finger_width_m
                q_lock[full.idx_qs[jid]] = width / max(1, len(g.finger_joints))
        # The frame tree by name, from the full model (a reduced model's locked-joint frames lose
        # their parent frame).
        self._parent = {f.name: (full.frames[f.parentFrame].name if i else None) for i, f in enumerate(full.frames)}
        self._is_body = {f.name: f.type == pin.FrameType.BODY for f in full.frames}
        if lock:
            model, gms = pin.buildReducedModel(full, [gfull], lock, q_lock)
            gm = gms[0]
        else:
            model, gm = pin.Model(full), gfull.copy()  # the cached ones stay as loaded
        if model.nq != spec.dof:
            raise ValueError(f"robot {spec.name!r}: collision model has {model.nq} coordinates, spec {spec.dof} joints")
        q_index = []
        for jn in spec.joint_names:
            q_index.append(model.idx_qs[model.getJointId(jn)])
        self.q_index = np.array(q_index)
        self.identity = bool(np.all(self.q_index == np.arange(spec.dof)))
        # tcp and flange frames, as in RobotModel
        fl = model.getFrameId(spec.flange_frame)
        tp = model.getFrameId(spec.tcp_parent)
        if fl >= model.nframes or tp >= model.nframes:
            raise ValueError(f"robot {spec.name!r}: flange or tcp parent frame not in the collision model")
        self.flange_fid = fl
        tpf = model.frames[tp]
        offset = pin.SE3(rpy_to_matrix(spec.tcp_offset_rpy), np.asarray(spec.tcp_offset_xyz, dtype=float))
        self.tcp_fid = model.addFrame(pin.Frame("tcp", tpf.parentJoint, tp, tpf.placement * offset,
                                                pin.FrameType.OP_FRAME))
        self.model = model
        self.gm = gm
        self.spec = spec
        self.link_of = [model.frames[go.parentFrame].name for go in gm.geometryObjects]
        self.joint_of = [int(go.parentJoint) for go in gm.geometryObjects]
        self.links = sorted(set(self.link_of), key=self.link_of.index)
        # Gripper links: at or beyond the flange in the frame tree (they may touch a held object).
        flange_name = model.frames[fl].name
        self.touch = [self._beyond(model.frames[go.parentFrame].name, flange_name) for go in gm.geometryObjects]
        # r_i: distance bound from each joint's origin to every geometry beyond it; per geometry,
        # the same bound from each joint above it (0 for the joints that do not move it).
        self.r_geom = np.zeros(model.njoints)
        self.geom_reach = []
        for go in gm.geometryObjects:
            radius = _bounding_radius(go.geometry, go.placement)
            self._extend_bound(int(go.parentJoint), radius)
            self.geom_reach.append(self.chain_reach(int(go.parentJoint), radius))
        self.adjacent = self._adjacent_links()

    def _beyond(self, frame: str | None, ancestor: str) -> bool:
        while frame is not None:
            if frame == ancestor:
                return True
            frame = self._parent.get(frame)
        return False

    def _extend_bound(self, joint: int, radius: float) -> None:
        """Raise r of ``joint`` and of each joint above it by a geometry of ``radius`` on ``joint``."""
        dist = radius
        j = joint
        while j > 0:
            self.r_geom[j] = max(self.r_geom[j], dist)
            dist += float(np.linalg.norm(self.model.jointPlacements[j].translation))
            j = self.model.parents[j]

    def chain_reach(self, joint: int, radius: float) -> np.ndarray:
        """Per joint of the model: a bound on the distance from its origin to a geometry held
        within ``radius`` of ``joint``'s origin (0 for the joints not above ``joint``)."""
        out = np.zeros(self.model.njoints)
        dist = radius
        j = joint
        while j > 0:
            out[j] = dist
            dist += float(np.linalg.norm(self.model.jointPlacements[j].translation))
            j = self.model.parents[j]
        return out

    def reach(self, extra: list[tuple[int, float]] = ()) -> np.ndarray:
        """r_i per arm joint (spec order), with extra (joint, radius) geometries."""
        if extra:
            saved = self.r_geom.copy()
            for j, r in extra:
                self._extend_bound(j, r)
            out, self.r_geom = self.r_geom, saved
        else:
            out = self.r_geom
        jids = [self.model.getJointId(n) for n in self.spec.joint_names]
        return np.array([out[j] for j in jids])

    def _adjacent_links(self) -> set[frozenset[str]]:
        """Link pairs joined by one joint, links without geometry skipped (as MoveIt does): each
        link with geometry is adjacent to its nearest ancestor link with geometry."""
        with_geom = set(self.link_of)
        adj: set[frozenset[str]] = set()
        for name in with_geom:
            up = self._parent.get(name)
            while up is not None:
                if self._is_body.get(up) and up in with_geom:
                    adj.add(frozenset((name, up)))
                    break
                up = self._parent.get(up)
        return adj


_GEOMETRY_CACHE: dict[tuple, _RobotGeometry] = {}
_URDF_CACHE: dict[str, tuple[pin.Model, pin.GeometryModel]] = {}


def _urdf_geometry(urdf: str) -> tuple[pin.Model, pin.GeometryModel]:
    """The URDF's full model and its collision geometry, meshes replaced by their convex hulls:
    loaded once per URDF (the meshes are most of a `_RobotGeometry`'s cost), shared by every
    finger width. Nobody changes them: a reduced model copies what it keeps."""
    got = _URDF_CACHE.get(urdf)
    if got is None:
        full = pin.buildModelFromUrdf(urdf)
        got = _URDF_CACHE[urdf] = (full, _collision_geometry(full, urdf))
    return got


def _collision_geometry(full: pin.Model, urdf: str) -> pin.GeometryModel:
    """The URDF's collision geometry, meshes replaced by their convex hulls. Loading the meshes
    and computing the hulls takes tens of milliseconds per robot and run, so a URDF with meshes
    keeps the result in a file (pinocchio's binary serialisation, every field as it is), named
    by a hash of the URDF, of each collision mesh file it names and of the pinocchio and coal
    versions; a file that cannot be read or written is computed afresh."""
    key = _geometry_key(urdf)
    path = None
    if key is not None:
        from officina.robots import cache_dir

        path = cache_dir("collision") / f"{Path(urdf).stem}-{key}.bin"
        if path.is_file():
            kept = pin.GeometryModel()
            try:
                kept.loadFromBinary(str(path))
                return kept
            except Exception:  # damaged: made again below
                pass
    gfull = pin.buildGeomFromUrdf(full, urdf, pin.GeometryType.COLLISION, package_dirs=[os.path.dirname(urdf)])
    for go in gfull.geometryObjects:
        g = go.geometry
        if isinstance(g, coal.BVHModelBase):
            g.buildConvexHull(True, "Qt")
            go.geometry = g.convex
    if path is not None:
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(fd)
            gfull.saveToBinary(tmp)
            os.replace(tmp, path)
        except (OSError, RuntimeError):  # not kept: computed again next time
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
    return gfull


def _geometry_key(urdf: str) -> str | None:
    """A hash of what a URDF's collision geometry is made from: its text, the contents of the
    collision mesh files it names (absolute, ``file://`` or ``package://`` beside the URDF) and
    the pinocchio and coal versions. None when it names no mesh (nothing worth keeping) or a mesh
    file that is not there."""
    try:
        text = Path(urdf).read_bytes()
        root = ET.fromstring(text)
    except (OSError, ET.ParseError):
        return None
    h = hashlib.sha1(text)
    h.update(f"pinocchio {pin.__version__} coal {coal.__version__}".encode())
    meshes = [m.get("filename", "") for c in root.iter("collision") for m in c.iter("mesh")]
    if not meshes:
        return None
    for name in meshes:
        if name.startswith("package://"):
            name = os.path.join(os.path.dirname(urdf), name.removeprefix("package://"))
        name = name.removeprefix("file://")
        if not os.path.isabs(name) or not os.path.isfile(name):
            return None
        h.update(Path(name).read_bytes())
    return h.hexdigest()[:16]


def _robot_geometry(spec: RobotSpec, finger_width_m: float | None = None) -> _RobotGeometry:
    """The robot's geometry with the fingers locked at ``finger_width_m`` (None: fully open;
    cached per millimetre of width)."""
    width = None if finger_width_m is None else round(float(finger_width_m), 3)
    key = (spec.urdf, spec.joint_names, spec.flange_frame, spec.tcp_parent, spec.tcp_offset_xyz, spec.tcp_offset_rpy,
           width)
    g = _GEOMETRY_CACHE.get(key)
    if g is None:
        g = _GEOMETRY_CACHE[key] = _RobotGeometry(spec, width)
    return g


# --- self-collision pairs (the SRDF) -------------------------------------------------------------------
def compute_disabled_pairs(spec: RobotSpec, samples: int = 10000, rng: np.random.Generator | None = None,
                           always_fraction: float = 0.95) -> list[tuple[str, str, str]]:
    """Link pairs whose self-collision check is disabled, with MoveIt's reasons: ``Adjacent``,
    ``Default`` (in collision at the home pose), ``Always`` (in collision in at least
    ``always_fraction`` of the samples), ``Never`` (in no sample). Samples are uniform within the
    joint limits, drawn from ``rng`` (default: seeded with 0)."""
    rg = _robot_geometry(spec)
    rng = rng if rng is not None else np.random.default_rng(0)
    links = rg.links
    gm = rg.gm.copy()
    gm.removeAllCollisionPairs()
    pair_links = []
    for a in range(gm.ngeoms):
        for b in range(a + 1, gm.ngeoms):
            la, lb = rg.link_of[a], rg.link_of[b]
            if la == lb or rg.joint_of[a] == rg.joint_of[b]:
                continue  # rigidly joined: never move relative to each other
            gm.addCollisionPair(pin.CollisionPair(a, b))
            pair_links.append(frozenset((la, lb)))
    gd = gm.createData()
    data = rg.model.createData()
    all_pairs = {frozenset((a, b)) for i, a in enumerate(links) for b in links[i + 1:]}
    out: dict[frozenset, str] = {}
    for p in all_pairs:
        if p in rg.adjacent:
            out[p] = "Adjacent"
    # links that never move relative to each other (same joint): also adjacent in effect
    for a in range(gm.ngeoms):
        for b in range(a + 1, gm.ngeoms):
            la, lb = rg.link_of[a], rg.link_of[b]
            if la != lb and rg.joint_of[a] == rg.joint_of[b]:
                out.setdefault(frozenset((la, lb)), "Adjacent")

    def hits(q: np.ndarray) -> set[frozenset]:
        qm = np.empty(rg.model.nq)
        qm[rg.q_index] = q
        pin.computeCollisions(rg.model, data, gm, gd, qm, False)
        return {pair_links[k] for k, r in enumerate(gd.collisionResults) if r.isCollision()}

    for p in hits(np.asarray(spec.home, dtype=float)):
        out.setdefault(p, "Default")
    counts: dict[frozenset, int] = {}
    lim = spec.limits
    for _ in range(samples):
        for p in hits(rng.uniform(lim.lower, lim.upper)):
            counts[p] = counts.get(p, 0) + 1
    for p in set(pair_links):
        c = counts.get(p, 0)
        if c == 0:
            out.setdefault(p, "Never")
        elif c >= always_fraction * samples:
            out.setdefault(p, "Always")
    rows = [(*sorted(p), reason) for p, reason in out.items() if len(p) == 2]
    return sorted(rows, key=lambda r: (links.index(r[0]) if r[0] in links else 99, r[1]))


def write_srdf(path: str | Path, robot_name: str, pairs: list[tuple[str, str, str]], note: str = "") -> None:
    """Write the disabled pairs as an SRDF (MoveIt's format), atomically."""
    root = ET.Element("robot", {"name": robot_name})
    if note:
        root.append(ET.Comment(f" {note} "))
    for a, b, reason in pairs:
        ET.SubElement(root, "disable_collisions", {"link1": a, "link2": b, "reason": reason})
    ET.indent(root)
    text = '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def srdf_path_for(spec: RobotSpec) -> str | None:
    """The robot's SRDF file (``RobotSpec.srdf``), or None."""
    p = getattr(spec, "srdf", None)
    return p if p and Path(p).is_file() else None


@lru_cache(maxsize=16)
def _disabled_from_srdf(path: str, mtime: float) -> frozenset:
    root = ET.parse(path).getroot()
    return frozenset(frozenset((el.get("link1"), el.get("link2"))) for el in root.iter("disable_collisions"))


_COMPUTED: dict[tuple, frozenset] = {}


def _disabled_pairs(spec: RobotSpec) -> frozenset:
    path = srdf_path_for(spec)
    if path is not None:
        return _disabled_from_srdf(path, os.stat(path).st_mtime)
    key = (spec.urdf, spec.joint_names)
    if key not in _COMPUTED:
        _COMPUTED[key] = frozenset(frozenset(r[:2]) for r in compute_disabled_pairs(spec, samples=2000))
    return _COMPUTED[key]


# --- the checker -------------------------------------------------------------------------------------
class CollisionChecker:
    """Checks configurations and motions of one robot against itself and a `PlanningScene`.

    The scene is read whenever its ``version`` changes (obstacles added, removed, objects
    attached). ``world_T_base`` places the robot's base in the frame of the scene's poses
    (identity: the base at the world origin). Not thread-safe: one per thread.
    """

    def __init__(self, robot: RobotModel | RobotSpec, scene: PlanningScene | None = None, *,
                 padding_m: float = 0.01, self_padding_m: float = 0.0,
                 world_T_base: np.ndarray | None = None) -> None:
        spec = robot.spec if isinstance(robot, RobotModel) else robot
        if not (padding_m >= 0 and self_padding_m >= 0):
            raise ValueError("padding must be >= 0 m")
        self.spec = spec
        self.scene = scene if scene is not None else PlanningScene()
        self.padding_m = float(padding_m)
        self.self_padding_m = float(self_padding_m)
        self.base_T_world = np.linalg.inv(np.asarray(world_T_base, float)) if world_T_base is not None else np.eye(4)
        self._rg = _robot_geometry(spec)
        self._disabled = _disabled_pairs(spec)
        self._data = self._rg.model.createData()
        self._version = None
        self._width: float | None = None
        self._gdata: dict[float, pin.GeometryData] = {}
        self._placed: dict[str, tuple] = {}
        # configurations checked so far (every query counts; a midpoint checked for both classes of
        # pairs at once counts once per class, as when they are checked apart: see `_certify`)
        self.n_checks = 0
        self._sync()

    @property
    def gripper_width_m(self) -> float | None:
        """The fingers' opening in the collision model (None: fully open, the default)."""
        return self._width

    @gripper_width_m.setter
    def gripper_width_m(self, width: float | None) -> None:
        """Follow the gripper: closed on a part, its fingers are where the part is."""
        g = self.spec.gripper
        if g is None:
            return
        if width is not None:
            width = float(np.clip(width, 0.0, g.max_width_m))
            if width >= g.max_width_m - 1e-4:
                width = None
        if width != self._width:
            self._width = width
            self._rg = _robot_geometry(self.spec, width)
            self._data = self._rg.model.createData()
            self._version = None

    # --- building the combined model -------------------------------------------------------------
    def _sync(self) -> None:
        if self._version == self.scene.version:
            return
        rg = self._rg
        model = rg.model
        gm = rg.gm.copy()
        gm.removeAllCollisionPairs()
        n_robot = gm.ngeoms
        self._names = [f"{ln}" for ln in rg.link_of]
        reach = list(rg.geom_reach)  # per geometry: bound from each joint above it
        env_pairs, self_pairs = [], []
        for a in range(n_robot):
            for b in range(a + 1, n_robot):
                la, lb = rg.link_of[a], rg.link_of[b]
                if la == lb or rg.joint_of[a] == rg.joint_of[b] or frozenset((la, lb)) in self._disabled:
                    continue
                self_pairs.append((a, b))
        moving = [i for i in range(n_robot) if rg.joint_of[i] != 0]
        placed = {}  # each obstacle's placement and coal geometry, kept while the obstacle stays
        for o in self.scene.obstacles:
            got = self._placed.get(o.name)
            if got is None or got[0] is not o:
                got = (o, pin.SE3(self.base_T_world @ o.pose), _shape_geometry(o.shape))
            placed[o.name] = got
            gid = gm.addGeometryObject(pin.GeometryObject(f"obstacle:{o.name}", 0, 0, got[1], got[2]))
            self._names.append(f"obstacle:{o.name}")
            reach.append(np.zeros(model.njoints))
            env_pairs += [(i, gid) for i in moving]
        self._placed = placed
        obstacles = list(range(n_robot, gm.ngeoms))
        extra_reach = []
        for a in self.scene.attached:
            fid = rg.tcp_fid if a.frame == "tcp" else (
                rg.flange_fid if a.frame == "flange" else model.getFrameId(a.frame))
            if fid >= model.nframes:
                raise ValueError(f"attached object {a.name!r}: unknown frame {a.frame!r}")
            fr = model.frames[fid]
            placement = fr.placement * pin.SE3(np.asarray(a.frame_T_shape, float))
            geom = _shape_geometry(a.shape)
            gid = gm.addGeometryObject(pin.GeometryObject(f"attached:{a.name}", fr.parentJoint, fid, placement, geom))
            self._names.append(f"attached:{a.name}")
            radius = _bounding_radius(geom, placement)
            extra_reach.append((int(fr.parentJoint), radius))
            reach.append(rg.chain_reach(int(fr.parentJoint), radius))
            env_pairs += [(gid, o) for o in obstacles]
            # against the arm, not against the gripper holding it
            self_pairs += [(i, gid) for i in range(n_robot)
                           if not rg.touch[i] and rg.joint_of[i] != fr.parentJoint]
        for a, b in env_pairs:
            gm.addCollisionPair(pin.CollisionPair(a, b))
        n_env = len(env_pairs)
        for a, b in self_pairs:
            gm.addCollisionPair(pin.CollisionPair(a, b))
        self._gm = gm
        self._n_env = n_env
        self._pair_ids = env_pairs + self_pairs  # gm.collisionPairs, in order
        self.reach = rg.reach(extra_reach)
        self._pair_weights = self._weights(reach)
        self._gdata = {}
        self._dist_data = None  # made by the first distance query
        # Boolean checks: a broadphase (inflated bounding boxes) in front of coal's narrowphase,
        # with per-pair margins set in one call from a (geoms x geoms) matrix.
        self._bp_data = gm.createData()
        for req in self._bp_data.collisionRequests:
            req.break_distance = 0.0
        self._bp = pin.BroadPhaseManager_NaiveCollisionManager(model, gm, self._bp_data)
        ng = gm.ngeoms
        pa = np.array([p[0] for p in self._pair_ids], dtype=np.intp)
        pb = np.array([p[1] for p in self._pair_ids], dtype=np.intp)
        self._flat_upper = np.minimum(pa, pb) * ng + np.maximum(pa, pb)  # the entry pinocchio reads
        self._margin_matrix = np.zeros((ng, ng))
        self._margin_flat = self._margin_matrix.reshape(-1)
        self._margin_key: object = None
        self._base = np.full(len(self._pair_ids), self.self_padding_m)
        self._base[:n_env] = self.padding_m
        self._base_cache: dict[float, np.ndarray] = {}
        self._class_slice = {"env": slice(0, n_env), "self": slice(n_env, len(self._pair_ids))}
        self._class_mask = {}
        for cls, sl in (("all", slice(0, len(self._pair_ids))), *self._class_slice.items()):
            mask = np.zeros((ng, ng), dtype=bool)
            mask[pa[sl], pb[sl]] = True
            mask[pb[sl], pa[sl]] = True
            self._class_mask[cls] = mask
        self._active = "all"
        self._version = self.scene.version

    def _weights(self, reach: list[np.ndarray]) -> np.ndarray:
        """(pairs, joints in spec order): for a joint-space step dq, ``W @ |dq|`` bounds how much
        each pair's distance changes. The joints above one geometry and not above the other move
        that one relative to it, each point by at most |dq_i| times its distance bound."""
        model = self._rg.model
        jids = np.array([model.getJointId(n) for n in self.spec.joint_names])
        if not self._pair_ids:
            return np.zeros((0, self.spec.dof))
        R = np.array(reach)[:, jids]  # (geometries, joints in spec order)
        above = R > 0
        a, b = (np.array(ids, dtype=np.intp) for ids in zip(*self._pair_ids))
        return np.where(above[b] & ~above[a], R[b], 0.0) + np.where(above[a] & ~above[b], R[a], 0.0)

    def _geometry_data(self, extra: float) -> pin.GeometryData:
        key = round(float(extra), 9)
        gd = self._gdata.get(key)
        if gd is None:
            gd = self._gm.createData()
            self._set_margins(gd, extra)
            self._gdata[key] = gd
        return gd

    def _set_margins(self, gd: pin.GeometryData, extra: float) -> None:
        for k, req in enumerate(gd.collisionRequests):
            base = self.padding_m if k < self._n_env else self.self_padding_m
            req.security_margin = max(0.0, base + extra)
            req.break_distance = 0.0

    def _qm(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if self._rg.identity:
            return q
        out = np.empty(self._rg.model.nq)
        out[self._rg.q_index] = q
        return out

    def _pair_margins(self, margins: np.ndarray, key: object = None) -> None:
        """Set every pair's margin (m) for the boolean checks; ``key`` names the set (unchanged
        key: nothing to do)."""
        if key is not None and key == self._margin_key:
            return
        self._margin_flat[self._flat_upper] = margins
        self._bp_data.setSecurityMargins(self._gm, self._margin_matrix, True, True)
        self._margin_key = key

    def _activate(self, cls: str) -> None:
        """Check the pairs of one class: ``all``, ``env`` (robot-scene) or ``self``."""
        if cls != self._active:
            self._bp_data.setActiveCollisionPairs(self._gm, self._class_mask[cls], True)
            self._active = cls

    def _collides(self, q: np.ndarray, count: int = 1) -> bool:
        """Some pair closer than its current margin at q (model coordinates); counts as ``count``
        configurations checked."""
        self.n_checks += count
        return pin.computeCollisions(self._rg.model, self._data, self._bp, q, True)

    def _base_margins(self, extra: float) -> np.ndarray:
        m = self._base_cache.get(extra)
        if m is None:
            m = self._base_cache[extra] = np.maximum(self._base + extra, 0.0)
        return m

    # --- queries -------------------------------------------------------------------------------------
    @property
    def n_pairs(self) -> int:
        self._sync()
        return len(self._pair_ids)

    def is_valid(self, q: np.ndarray, extra_margin_m: float = 0.0) -> bool:
        """True when no checked pair is closer than its margin (+ ``extra_margin_m``)."""
        self._sync()
        if not self._pair_ids:
            return True
        key = ("state", float(extra_margin_m))
        if key != self._margin_key:
            self._pair_margins(self._base_margins(extra_margin_m), key)
        self._activate("all")
        return not self._collides(self._qm(q))

    def contacts(self, q: np.ndarray, extra_margin_m: float = 0.0) -> list[Contact]:
        """Every pair closer than its margin at q (names as in `Contact`)."""
        self._sync()
        gd = self._geometry_data(extra_margin_m)
        pin.computeCollisions(self._rg.model, self._data, self._gm, gd, self._qm(q), False)
        out = []
        for k, r in enumerate(gd.collisionResults):
            if r.isCollision():
                a, b = self._pair_ids[k]
                out.append(Contact(self._names[a], self._names[b]))
        return out

    def clearance(self, q: np.ndarray, include_self: bool = False) -> tuple[float, Contact | None]:
        """Smallest distance (m) between the robot (and attached objects) and the scene at q,
        with the pair; ``inf`` and None when the scene is empty."""
        self._sync()
        d = self._distances(q)
        n = len(self._pair_ids) if include_self else self._n_env
        if n == 0:
            return np.inf, None
        k = int(np.argmin(d[:n]))
        a, b = self._pair_ids[k]
        return float(d[k]), Contact(self._names[a], self._names[b])

    def _distances(self, q: np.ndarray) -> np.ndarray:
        """Distance (m) of every pair at q, from below (GJK's tolerance taken off); 0 when the
        two touch or overlap (no penetration depth is computed)."""
        gd = self._dist_data
        if gd is None:
            gd = self._dist_data = self._gm.createData()
            for req in gd.distanceRequests:
                req.enable_signed_distance = False
                req.gjk_tolerance = _GJK_TOL
        pin.computeDistances(self._rg.model, self._data, self._gm, gd, self._qm(q))
        d = np.fromiter((r.min_distance for r in gd.distanceResults), float, len(self._pair_ids))
        return np.maximum(d - _GJK_TOL, 0.0)

    def displacement_bound(self, q0: np.ndarray, q1: np.ndarray) -> float:
        """Upper bound (m) on how far any point of the robot moves on the straight joint-space
        segment from q0 to q1: sum_i |dq_i| r_i."""
        self._sync()
        return float(np.abs(np.asarray(q1, float) - np.asarray(q0, float)) @ self.reach)

    def segment_configs(self, q0: np.ndarray, q1: np.ndarray, resolution_m: float) -> np.ndarray:
        """Configurations on the segment (q0 excluded, q1 included), at most ``resolution_m`` of
        point motion apart."""
        n = max(1, int(np.ceil(self.displacement_bound(q0, q1) / resolution_m)))
        s = np.arange(1, n + 1) / n
        q0 = np.asarray(q0, float)
        return q0 + s[:, None] * (np.asarray(q1, float) - q0)

    # --- motions -------------------------------------------------------------------------------------
    def segment_valid(self, q0: np.ndarray, q1: np.ndarray, resolution_m: float, extra_margin_m: float = 0.0,
                      relax: list[np.ndarray] = (), relax_radius_m: float | None = None) -> bool:
        """Every configuration on the straight joint-space segment from q0 to q1 keeps its
        margin (+ ``extra_margin_m``); see `check_path`."""
        self._sync()
        radius = self.padding_m if relax_radius_m is None else relax_radius_m
        ok, _, _ = self._certify(np.asarray(q0, float), np.asarray(q1, float), resolution_m, extra_margin_m,
                                 list(relax), radius)
        return ok

    def segment_sampled(self, q0: np.ndarray, q1: np.ndarray, spacing_m: float, extra_margin_m: float = 0.0,
                        relax: list[np.ndarray] = (), relax_radius_m: float | None = None) -> bool:
        """A cheap check of the straight segment from q0 to q1 that proves nothing: configurations
        on it, at most ``spacing_m`` of point motion (`displacement_bound`) apart, keep their
        margin (+ ``extra_margin_m``); the ends are not checked. They are checked in bisection
        order (the midpoint first), so a collision in the middle fails the segment early.
        Within ``relax_radius_m`` of a ``relax`` configuration contact-free suffices."""
        self._sync()
        if not self._pair_ids:
            return True
        q0 = np.asarray(q0, float)
        dq = np.asarray(q1, float) - q0
        intervals = math.ceil(float(np.abs(dq) @ self.reach) / spacing_m)
        if intervals <= 1:
            return True
        fractions = _bisection_order(min(intervals, 1 << 16))
        key = ("state", float(extra_margin_m))
        self._pair_margins(self._base_margins(extra_margin_m), key)
        self._activate("all")
        qm0 = self._qm(q0)
        Q = qm0 + fractions[:, None] * self._qm(dq)
        if not relax:
            for q in Q:
                if self._collides(q):
                    return False
            return True
        radius = self.padding_m if relax_radius_m is None else relax_radius_m
        reach = self.reach
        for f, q in zip(fractions, Q):
            if self._collides(q):
                qj = q0 + f * dq
                if not any(float(np.abs(qj - r) @ reach) <= radius for r in relax):
                    return False
                self._pair_margins(self._base_margins(-self.padding_m), ("state", -self.padding_m))
                touching = self._collides(q)
                self._pair_margins(self._base_margins(extra_margin_m), key)
                if touching:
                    return False
        return True

    def _certify(self, q0: np.ndarray, q1: np.ndarray, res: float, extra: float, relax: list[np.ndarray],
                 radius: float, dev: np.ndarray | None = None) -> tuple[bool, int, float]:
        """Certify the straight segment q0 -> q1 (every configuration within ``dev`` per joint of
        it, when given): (ok, configurations checked, where it failed in [0, 1]).

        A configuration q_m whose pairs keep margin + b_k, where b_k bounds how much pair k's
        distance changes over a stretch of the segment around q_m, proves the whole stretch
        keeps the margin. Stretches are halved, breadth first, until proved; a long stretch
        (pairs moving more than 25 cm) is only probed at its midpoint, every pair at once, and a
        stretch whose midpoint is itself too close fails the segment at once, as does one that
        cannot be proved when no point of it moves more than ``res`` (m). The robot-scene pairs
        and the self-collision pairs are proved apart (each class from its own longest stretches
        and halving only where it needs to); when both start from the whole segment, its
        midpoint is first checked for both at once (`_proves_both_classes`)."""
        if not self._pair_ids:
            return True, 0, 0.0
        dq = q1 - q0
        w = self._pair_weights @ np.abs(dq)  # each pair's distance change over the whole segment
        w_dev = self._pair_weights @ dev if dev is not None else 0.0
        base = (self._base_margins(extra), self._base_margins(-self.padding_m) if relax else None)
        reach = self.reach
        dev_reach = float(dev @ reach) if dev is not None else 0.0

        def inside(a: float, c: float) -> bool:
            """Both ends (so the whole stretch) within the relax radius of one relax point."""
            qa, qc = q0 + a * dq, q0 + c * dq
            return any(max(np.abs(qa - r) @ reach, np.abs(qc - r) @ reach) + dev_reach <= radius for r in relax)

        seg = (self._qm(q0), self._qm(dq), w, w_dev, base, inside)
        qm0, dqm = seg[0], seg[1]
        # No stretch over which a pair may move more than the cap is proved in practice: such
        # stretches are only probed at their midpoint, every pair with its margin alone (a
        # collision fails the segment early), and halved.
        n_total = 0
        mids = [0.5]
        h = 0.5  # half-length of the stretches of a level (fraction of the segment)
        w_max = float(w.max())
        if w_max * h > _PROBE_ABOVE_M:
            self._activate("all")
            self._pair_margins(base[False] + w_dev, None)
        while w_max * h > _PROBE_ABOVE_M:
            for m in mids:
                q = qm0 + m * dqm
                n_total += 1
                if self._collides(q) and not (relax and self._relaxed_ok(q, m, h, inside, base, w_dev)):
                    return False, n_total, m
            h *= 0.5
            mids = [x for m in mids for x in (m - h, m + h)]
        if h == 0.5 and self._proves_both_classes(seg, bool(relax) and inside(0.0, 1.0)):
            return True, n_total + 2, 0.0
        for cls in ("env", "self"):
            ok, n, s = self._certify_class(cls, seg, res, bool(relax))
            n_total += n
            if not ok:
                return False, n_total, s
        return True, n_total, 0.0

    def _proves_both_classes(self, seg: tuple, relaxed: bool) -> bool:
        """The first check of both classes of pairs at once, when both start from the whole
        segment: it is of the segment's midpoint, every pair with the margin its class's check
        gives it (base, relaxed or not, plus its bound over the segment). A midpoint that
        collides nowhere proves both classes (neither class's check would find a collision) and
        counts as their two checks; one that collides somewhere proves nothing and does not
        count (the classes are then proved apart, from the same midpoint)."""
        if any(sl.stop <= sl.start for sl in self._class_slice.values()):
            return False
        qm0, dqm, w, w_dev, base, _ = seg
        self._activate("all")
        self._pair_margins(base[relaxed] + (w * 0.5 + w_dev), None)
        if self._collides(qm0 + 0.5 * dqm, count=0):
            return False
        self.n_checks += 2
        return True

    def _certify_class(self, cls: str, seg: tuple, res: float, relax: bool) -> tuple[bool, int, float]:
        """Prove one class of pairs along a segment (see `_certify`), from the longest stretches
        that may be proved."""
        sl = self._class_slice[cls]
        if sl.stop <= sl.start:
            return True, 0, 0.0
        qm0, dqm, w, w_dev, base, inside = seg
        w_max = float(w[sl].max())
        self._activate(cls)
        n = 0
        h = 0.5  # half-length of the stretches of this level (fraction of the segment)
        while w_max * h > _PROBE_ABOVE_M:
            h *= 0.5
        mids = list(_midpoints(h))
        while mids:
            groups = [(False, mids)] if not relax else [
                (flag, [m for m in mids if inside(m - h, m + h) == flag]) for flag in (False, True)]
            bound = w * h + w_dev
            failed: list[tuple[float, bool]] = []
            for relaxed, group in groups:
                if not group:
                    continue
                self._pair_margins(base[relaxed] + bound, None)
                for m in group:
                    n += 1
                    if self._collides(qm0 + m * dqm):
                        failed.append((m, relaxed))
            if not failed:
                break
            if w_max * h <= 0.5 * res:
                # near a relax point (contact-free suffices, and the clearance may be small) a
                # stretch may be split further; elsewhere it fails
                finer = bool(relax) and w_max * h > res / 64
                for m, relaxed in failed:
                    if not (finer and (relaxed or inside(m - h, m - h) or inside(m + h, m + h))):
                        return False, n, m
            elif w_max * h > _EXACT_ABOVE_M:
                for relaxed in (False, True):
                    group = [m for m, f in failed if f == relaxed]
                    if not group:
                        continue
                    self._pair_margins(base[relaxed] + w_dev, None)
                    for m in group:
                        n += 1
                        if self._collides(qm0 + m * dqm):
                            return False, n, m
            h *= 0.5
            mids = [x for m, _ in failed for x in (m - h, m + h)]
        return True, n, 0.0

    def _relaxed_ok(self, q, m, h, inside, base, w_dev) -> bool:
        """A probe at q (the middle of stretch m +- h) that failed with the padding: fine when
        q is within a relax radius and touches nothing."""
        if not inside(m, m):
            return False
        self._pair_margins(base[True] + w_dev, None)
        ok = not self._collides(q)
        self._pair_margins(base[False] + w_dev, None)
        return ok


    def check_polyline(self, vertices: np.ndarray, resolution_m: float = 0.005, relax: list[np.ndarray] = (),
                       relax_radius_m: float | None = None, extra_margin_m: float = 0.0,
                       deviation: np.ndarray | None = None) -> TrajectoryCheck:
        """Check the straight joint-space segments between ``vertices`` (K, n); ``deviation``
        (K-1, n), when given, widens each segment to the configurations within that much per
        joint of it. See `check_path`; ``index`` is the vertex starting the failing segment."""
        self._sync()
        V = np.asarray(vertices, dtype=float)
        if len(V) == 1:
            V = np.vstack([V, V])
        radius = self.padding_m if relax_radius_m is None else relax_radius_m
        relax = list(relax)
        n_total = 0
        for k in range(len(V) - 1):
            dev = None if deviation is None else np.asarray(deviation[k], float)
            ok, n, s = self._certify(V[k], V[k + 1], resolution_m, extra_margin_m, relax, radius, dev)
            n_total += n
            if not ok:
                q = V[k] + s * (V[k + 1] - V[k])
                return TrajectoryCheck(False, n_total, k, tuple(self._failing_pairs(q, extra_margin_m, resolution_m)),
                                       resolution_m, s, k)
        return TrajectoryCheck(True, n_total, None, (), resolution_m)

    def _failing_pairs(self, q: np.ndarray, extra: float, res: float) -> list[Contact]:
        """The pairs that made a check at q fail: closer than the margin, or failing that,
        closer than the margin plus the stretch's bound."""
        return self.contacts(q, extra) or self.contacts(q, extra + 0.5 * res)

    def check_path(self, qs: np.ndarray, resolution_m: float = 0.005, relax: list[np.ndarray] = (),
                   relax_radius_m: float | None = None, extra_margin_m: float = 0.0,
                   breaks: list[int] | None = None) -> TrajectoryCheck:
        """Check a joint path given as samples (N, n), linear in joint space between samples.

        Every configuration on the path (not only the samples) is proved to keep its margin:
        the samples are grouped into chords (runs of samples within a small distance of the
        straight line through their ends, that distance added to the bounds), and each chord is
        proved stretch by stretch (`_certify`): a configuration where each pair keeps margin
        plus the most its distance can change over the stretch proves the stretch. A stretch
        over which no point of the robot moves more than ``resolution_m`` and that cannot be
        proved fails the path: so a path is refused only where it comes within margin +
        ``resolution_m``/2 of something. Configurations within ``relax_radius_m`` (default: the
        padding) of a ``relax`` configuration need only be contact-free. ``n_checks`` counts
        the configurations checked; ``index`` is a sample next to where the check failed.
        ``breaks`` (sample indices, first and last included) give the chords instead: where a
        path is known to turn, as at the waypoints of a timed trajectory."""
        self._sync()
        qs = np.asarray(qs, dtype=float)
        if len(qs) == 1:
            qs = np.vstack([qs, qs])
        if breaks is not None:
            chords = [(i, j, _chord_deviation(qs[i:j + 1])) for i, j in zip(breaks[:-1], breaks[1:])]
        else:
            chords = self._chords(qs, 0.5 * resolution_m)
        V = np.array([qs[i] for i, _, _ in chords] + [qs[chords[-1][1]]])
        dev = np.array([d for _, _, d in chords])
        r = self.check_polyline(V, resolution_m, relax, relax_radius_m, extra_margin_m, dev)
        if r.ok:
            return r
        i, j, _ = chords[r.index]
        seg = qs[j] - qs[i]
        dd = float(seg @ seg)
        t = np.clip((qs[i:j + 1] - qs[i]) @ seg / dd, 0.0, 1.0) if dd > 0 else np.zeros(j - i + 1)
        idx = i + int(np.argmin(np.abs(t - r.where)))
        return TrajectoryCheck(False, r.n_checks, idx, r.contacts, resolution_m, r.where, r.index)

    def _chords(self, qs: np.ndarray, tol_m: float) -> list[tuple[int, int, np.ndarray]]:
        """Split samples into chords (i, j, deviation): samples i..j lie within ``deviation`` per
        joint of the straight line from qs[i] to qs[j], and that moves no pair's distance by
        more than ``tol_m``. Each chord tries the previous one's length, then twice or half that."""
        n = len(qs)
        out = []
        i = 0
        span = 2
        while i < n - 1:
            j = min(n - 1, i + span)
            d = _chord_deviation(qs[i:j + 1])
            if self._dev_bound(d) <= tol_m:
                if j < n - 1:
                    j2 = min(n - 1, i + 2 * span)
                    d2 = _chord_deviation(qs[i:j2 + 1])
                    if self._dev_bound(d2) <= tol_m:
                        j, d = j2, d2
            else:
                while j > i + 1:
                    j = i + max(1, (j - i) // 2)
                    d = _chord_deviation(qs[i:j + 1])
                    if j == i + 1 or self._dev_bound(d) <= tol_m:
                        break
            out.append((i, j, d))
            span = max(2, j - i)
            i = j
        return out

    def _dev_bound(self, dev: np.ndarray) -> float:
        return float((self._pair_weights @ dev).max()) if self._pair_ids else 0.0

    def min_clearance_along(self, qs: np.ndarray, resolution_m: float = 0.005) -> tuple[float, Contact | None]:
        """Smallest robot-scene distance over a sampled path (at ``resolution_m``)."""
        qs = np.asarray(qs, dtype=float)
        best, pair = np.inf, None
        acc = np.inf
        for k, q in enumerate(qs):
            if k:
                acc += self.displacement_bound(qs[k - 1], q)
            if acc >= resolution_m or k == len(qs) - 1:
                d, p = self.clearance(q)
                if d < best:
                    best, pair = d, p
                acc = 0.0
        return best, pair


@lru_cache(maxsize=64)
def _midpoints(h: float) -> tuple[float, ...]:
    """The midpoints of the stretches of half-length ``h`` that tile [0, 1]."""
    return tuple(np.arange(h, 1.0, 2.0 * h))


@lru_cache(maxsize=256)
def _bisection_order(intervals: int) -> np.ndarray:
    """The interior points k / intervals of [0, 1] (k = 1 .. intervals - 1) in bisection order:
    the middle one first, then the middles of the two halves, and so on."""
    out = []
    queue = [(0, intervals)]
    for lo, hi in queue:  # the queue grows as it is read: breadth first
        if hi - lo >= 2:
            mid = (lo + hi) // 2
            out.append(mid)
            queue += [(lo, mid), (mid, hi)]
    arr = np.array(out, dtype=float) / intervals
    arr.setflags(write=False)
    return arr


def _chord_deviation(P: np.ndarray) -> np.ndarray:
    """Per joint, the largest distance of the samples P from the straight line P[0] -> P[-1]
    (each sample against its projection on it)."""
    A = P - P[0]  # the samples from the first
    d = P[-1] - P[0]
    dd = float(d @ d)
    if dd > 0:
        t = A @ d
        t /= dd
        np.maximum(t, 0.0, out=t)
        np.minimum(t, 1.0, out=t)
        A -= t[:, None] * d
    return np.abs(A, out=A).max(axis=0)
