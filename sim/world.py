"""A PyBullet world: one physics client per instance, headless (DIRECT) by default.

Owns its ``client_id`` and passes it to every PyBullet call, so several worlds can live in
one process (model: pybullet_utils' BulletClient). Fixed physics step (default 1 ms),
gravity, a table, boxes and cylinders with mass and friction, open-top bins, robots.

Physics settings: a step's cost is mostly the constraint solver on the robot's island, the rows
of the joint motors (position control) and of the fingers' contacts, iterated until they stop
changing or ``solver_iterations`` is reached (docs/physics.md; benchmarks/bench_physics.py
measures each setting):

* objects have no rolling friction by default: rolling friction adds two solver rows per
  contact, for a torque a standing box or cylinder does not need. Spinning (torsional)
  friction stays: it keeps an object from turning about the fingers' closing axis;
* ``solver_residual_threshold`` (PyBullet's 1e-7 by default) stops the solver early once the
  largest squared velocity change of a row in an iteration is below it; 1e-6 is cheaper;
* ``rigid_bodies=True`` builds boxes, cylinders, tables and bins as rigid bodies in maximal
  coordinates (PyBullet's ``useMaximalCoordinates``), a cheaper solve than one-link multibodies;
  the vacuum gripper's seal test cannot read their collision shapes, so it is not the default.

Ground-truth object poses (`object_pose`) are for metrics and tests; task procedures perceive
objects through a `Camera`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from officina.sim.bullet import pybullet as p
import pybullet_data

from officina.interfaces import RobotSpec

__all__ = ["SimWorld", "SimObject", "SimRobotHandle", "SimContact"]


@dataclass(frozen=True)
class SimObject:
    body_id: int
    kind: str  # "box" | "cylinder" | "sphere" | "mesh" | "table" | "bin" | "assembly"
    name: str
    size: tuple[float, ...]  # box: full extents (x, y, z); cylinder: (radius, height)
    mass_kg: float


@dataclass(frozen=True)
class SimRobotHandle:
    body_id: int
    spec: RobotSpec
    joint_index: dict[str, int]  # joint name -> PyBullet joint index
    link_index: dict[str, int]  # link name -> PyBullet link index (-1 = base)


@dataclass(frozen=True)
class SimContact:
    """One contact point of the last physics step: bodies and links (-1 = a body's base),
    the point on body A (world, m), the normal force (N) and the signed distance (m, < 0 when
    penetrating)."""

    body_a: int
    link_a: int
    body_b: int
    link_b: int
    position: tuple[float, float, float]
    normal_force_n: float
    distance_m: float


def _matrix_to_quat(R: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation matrix."""
    tr = float(np.trace(R))
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        return ((R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s)
    i = int(np.argmax(np.diag(R)))
    j, k = (i + 1) % 3, (i + 2) % 3
    s = 2.0 * np.sqrt(1.0 + R[i, i] - R[j, j] - R[k, k])
    q = [0.0, 0.0, 0.0, 0.0]
    q[i] = 0.25 * s
    q[j] = (R[j, i] + R[i, j]) / s
    q[k] = (R[k, i] + R[i, k]) / s
    q[3] = (R[k, j] - R[j, k]) / s
    return tuple(float(v) for v in q)


def _shrunk_hull(points: np.ndarray, margin: float, what: str) -> np.ndarray:
    """The vertices of the convex hull of ``points`` with every face moved inwards by ``margin``
    (Bullet inflates a convex hull by its collision margin: this one comes out where it was)."""
    from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError

    try:
        hull = ConvexHull(points)
    except QhullError:
        raise ValueError(f"{what}: its points span no volume") from None
    eq = hull.equations.copy()  # n . x + d <= 0 inside, |n| = 1
    eq[:, 3] += margin
    centre = points[hull.vertices].mean(axis=0)
    if np.any(eq[:, :3] @ centre + eq[:, 3] >= 0):
        raise ValueError(f"{what}: thinner than twice the collision margin ({margin} m)")
    return HalfspaceIntersection(eq, centre).intersections


def _hull_triangles(points: np.ndarray) -> list[int]:
    """Triangle indices of the convex hull of ``points``, each facing outwards (for drawing)."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(points)
    out = []
    for tri, eq in zip(hull.simplices, hull.equations):
        a, b, c = points[tri]
        if np.cross(b - a, c - a) @ eq[:3] < 0:
            tri = tri[::-1]
        out.extend(int(i) for i in tri)
    return out


class SimWorld:
    """A PyBullet physics world with a fixed step."""

    def __init__(
        self,
        *,
        sim_dt: float = 0.001,
        control_dt: float | None = None,
        gravity: float = -9.81,
        gui: bool = False,
        solver_iterations: int = 50,
        solver_residual_threshold: float = 1e-7,
        rigid_bodies: bool = False,
        object_rolling_friction: float = 0.0,
    ) -> None:
        """``control_dt``: the control period the cell will run at (default ``sim_dt``), for the
        parts of a scene that depend on it (a safety function's reaction time);
        ``solver_iterations``: the most iterations of the constraint solver per step;
        ``solver_residual_threshold``: it stops earlier once the largest squared velocity change
        of a constraint row in an iteration is below this ((m/s)^2 or (rad/s)^2);
        ``rigid_bodies``: objects and fixtures as maximal-coordinate rigid bodies rather than
        one-link multibodies; ``object_rolling_friction`` [m]: the default rolling friction of
        boxes and cylinders."""
        if not (1e-5 <= sim_dt <= 0.01):
            raise ValueError(f"sim_dt must be between 1e-5 and 0.01 s, got {sim_dt}")
        if solver_iterations < 1 or not (0.0 <= solver_residual_threshold < 1.0) or object_rolling_friction < 0:
            raise ValueError("solver_iterations must be >= 1, solver_residual_threshold in [0, 1), "
                             "object_rolling_friction >= 0")
        self.client_id = p.connect(p.GUI if gui else p.DIRECT)
        if self.client_id < 0:
            raise RuntimeError("could not start PyBullet (GUI needs a display; use DIRECT)")
        cid = self.client_id
        p.resetSimulation(physicsClientId=cid)
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=cid)
        p.setGravity(0, 0, gravity, physicsClientId=cid)
        p.setPhysicsEngineParameter(
            fixedTimeStep=sim_dt,
            numSolverIterations=solver_iterations,
            solverResidualThreshold=solver_residual_threshold,
            numSubSteps=0,
            deterministicOverlappingPairs=1,
            physicsClientId=cid,
        )
        if gui:
            p.configureDebugVisualizer(p.COV_ENABLE_GUI, 0, physicsClientId=cid)
        self.sim_dt = float(sim_dt)
        self.control_dt = float(sim_dt if control_dt is None else control_dt)
        self.gui = gui
        self.rigid_bodies = bool(rigid_bodies)
        self.object_rolling_friction = float(object_rolling_friction)
        self.steps = 0
        self.objects: list[SimObject] = []
        self.robots: list[SimRobotHandle] = []
        self._speed_override: dict[int, float] = {}  # robot body id -> safety speed override
        self._pre_step: list = []
        self._closed = False

    # --- time ------------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        """Simulation time in seconds (steps x sim_dt, exact)."""
        return self.steps * self.sim_dt

    def restart_clock(self) -> None:
        """Make the current instant time zero (the run's clock starts when the cell is built)."""
        self.steps = 0

    def step(self, n: int = 1) -> None:
        cid = self.client_id
        hooks = self._pre_step
        if hooks:
            for _ in range(n):
                for hook in hooks:
                    hook()
                p.stepSimulation(physicsClientId=cid)
        else:
            for _ in range(n):
                p.stepSimulation(physicsClientId=cid)
        self.steps += n

    def add_pre_step(self, fn) -> None:
        """Call ``fn()`` before every physics step: for device models that act on the physics at
        the physics rate (a vacuum gripper's suction force; PyBullet clears external forces after
        each step)."""
        self._pre_step.append(fn)

    def remove_pre_step(self, fn) -> None:
        if fn in self._pre_step:
            self._pre_step.remove(fn)

    # --- scene -----------------------------------------------------------------------------------
    def speed_override(self, robot: SimRobotHandle) -> float:
        """The speed override the cell's safety system imposes on ``robot`` (1: none), as the
        robot controller reports it (`officina.sim.arm.SimArm.speed_scaling`)."""
        return self._speed_override.get(robot.body_id, 1.0)

    def set_speed_override(self, robot: SimRobotHandle, scale: float) -> None:
        """Set the safety system's speed override of ``robot`` (a speed and separation monitor's
        output), in [0, 1]."""
        self._speed_override[robot.body_id] = min(1.0, max(0.0, float(scale)))

    def add_ground(self) -> int:
        return p.loadURDF("plane.urdf", physicsClientId=self.client_id)

    def _body(self, col: int, vis: int, mass: float, pos, quat=(0, 0, 0, 1)) -> int:
        return p.createMultiBody(
            baseMass=mass,
            baseCollisionShapeIndex=col,
            baseVisualShapeIndex=vis,
            basePosition=list(map(float, pos)),
            baseOrientation=list(map(float, quat)),
            useMaximalCoordinates=self.rigid_bodies,
            physicsClientId=self.client_id,
        )

    def add_table(
        self,
        top_center_xyz=(0.35, 0.0, 0.0),
        size_xy=(1.3, 1.2),
        thickness: float = 0.05,
        friction: float = 0.8,
        color=(0.72, 0.6, 0.45, 1.0),
    ) -> SimObject:
        """A static table whose top surface is at ``top_center_xyz[2]``."""
        half = [size_xy[0] / 2, size_xy[1] / 2, thickness / 2]
        cid = self.client_id
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=color, physicsClientId=cid)
        x, y, z = top_center_xyz
        bid = self._body(col, vis, 0.0, (x, y, z - thickness / 2))
        p.changeDynamics(bid, -1, lateralFriction=friction, physicsClientId=cid)
        obj = SimObject(bid, "table", "table", (size_xy[0], size_xy[1], thickness), 0.0)
        self.objects.append(obj)
        return obj

    def add_box(self, size_xyz, mass_kg: float, pos, quat=(0, 0, 0, 1), *, friction: float = 1.0,
                color=(0.85, 0.25, 0.2, 1.0), name: str = "box", spinning_friction: float = 0.001,
                rolling_friction: float | None = None, collision_margin_m: float | None = None) -> SimObject:
        """A dynamic box. ``friction`` is the Coulomb coefficient; ``spinning_friction`` and
        ``rolling_friction`` (m) resist turning about a contact's normal and rolling over it (a
        flat face on a surface: about two thirds of the friction coefficient times the radius of
        the contact patch); ``rolling_friction`` None: the world's ``object_rolling_friction``.
        ``collision_margin_m``: Bullet's collision margin of the shape (None: PyBullet's default,
        1 mm; a box's edges are rounded by it): smaller for parts that fit with sub-millimetre
        clearance."""
        if mass_kg <= 0 or min(size_xyz) <= 0:
            raise ValueError("box: size and mass must be positive")
        half = [s / 2 for s in size_xyz]
        cid = self.client_id
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=color, physicsClientId=cid)
        bid = self._body(col, vis, mass_kg, pos, quat)
        self._object_dynamics(bid, friction, spinning_friction, rolling_friction, collision_margin_m)
        obj = SimObject(bid, "box", name, tuple(float(s) for s in size_xyz), float(mass_kg))
        self.objects.append(obj)
        return obj

    def add_cylinder(self, radius: float, height: float, mass_kg: float, pos, quat=(0, 0, 0, 1), *,
                     friction: float = 1.0, color=(0.2, 0.45, 0.85, 1.0), name: str = "cylinder",
                     spinning_friction: float = 0.001, rolling_friction: float | None = None,
                     collision_margin_m: float | None = None) -> SimObject:
        """A dynamic cylinder, its axis along its local z (frictions and ``collision_margin_m`` as
        in `add_box`)."""
        if mass_kg <= 0 or radius <= 0 or height <= 0:
            raise ValueError("cylinder: radius, height and mass must be positive")
        cid = self.client_id
        col = p.createCollisionShape(p.GEOM_CYLINDER, radius=radius, height=height, physicsClientId=cid)
        vis = p.createVisualShape(p.GEOM_CYLINDER, radius=radius, length=height, rgbaColor=color, physicsClientId=cid)
        bid = self._body(col, vis, mass_kg, pos, quat)
        self._object_dynamics(bid, friction, spinning_friction, rolling_friction, collision_margin_m)
        obj = SimObject(bid, "cylinder", name, (float(radius), float(height)), float(mass_kg))
        self.objects.append(obj)
        return obj

    def _object_dynamics(self, bid: int, friction: float, spinning: float = 0.001,
                         rolling: float | None = None, collision_margin_m: float | None = None) -> None:
        rolling = self.object_rolling_friction if rolling is None else rolling
        kw = {} if collision_margin_m is None else {"collisionMargin": float(collision_margin_m)}
        p.changeDynamics(
            bid, -1, lateralFriction=friction, spinningFriction=spinning, rollingFriction=rolling,
            restitution=0.0, activationState=p.ACTIVATION_STATE_ENABLE_SLEEPING,
            physicsClientId=self.client_id, **kw,
        )

    # PyBullet builds a compound collision shape of at most this many children.
    _COMPOUND_MAX = 16
    # PyBullet's collision margin of a convex hull made from vertices (it inflates the hull by
    # it; changeDynamics sets a link's margin in its records but not on the shape it collides with)
    HULL_MARGIN_M = 0.001

    def add_assembly(self, boxes=(), hulls=(), pos=(0.0, 0.0, 0.0), quat=(0, 0, 0, 1), *, friction: float = 0.8,
                     color=(0.55, 0.55, 0.58, 1.0), name: str = "assembly",
                     collision_margin_m: float | None = None) -> SimObject:
        """One static body made of boxes and convex solids (a fixture with a machined hole, a
        nest), placed by ``pos``/``quat`` in the world. ``boxes``: at most 16 of ``(size_xyz,
        position_xyz, quat_xyzw)``, full side lengths and the box centre's pose in the body frame;
        ``hulls``: the vertices (k x 3, body frame) of convex solids, each the convex hull of its
        points.

        The boxes are the body's base (one compound shape), each hull a link welded to it (PyBullet's
        compound shapes take neither more than 16 children nor hulls given by vertices): one body
        id for the whole part, for contact queries. ``collision_margin_m`` is the boxes' collision
        margin (None: PyBullet's default, 1 mm; a box keeps its size, its edges rounded by the
        margin). A hull collides with its faces where its points put them and its edges rounded
        by `HULL_MARGIN_M` (Bullet inflates a hull by its margin: each is built shrunk by it)."""
        boxes = [(tuple(float(v) for v in s), tuple(float(v) for v in x), tuple(float(v) for v in q))
                 for s, x, q in boxes]
        hulls = [np.asarray(h, dtype=float).reshape(-1, 3) for h in hulls]
        if not boxes and not hulls:
            raise ValueError(f"assembly {name!r}: no parts")
        if len(boxes) > self._COMPOUND_MAX:
            raise ValueError(f"assembly {name!r}: at most {self._COMPOUND_MAX} boxes, got {len(boxes)}")
        if any(min(s) <= 0 for s, _, _ in boxes):
            raise ValueError(f"assembly {name!r}: every box needs positive side lengths")
        cid = self.client_id
        cols, viss = [], []
        if boxes:
            half = [[v / 2 for v in s] for s, _, _ in boxes]
            at = [list(x) for _, x, _ in boxes]
            rot = [list(q) for _, _, q in boxes]
            cols.append(p.createCollisionShapeArray([p.GEOM_BOX] * len(boxes), halfExtents=half,
                                                    collisionFramePositions=at, collisionFrameOrientations=rot,
                                                    physicsClientId=cid))
            viss.append(p.createVisualShapeArray([p.GEOM_BOX] * len(boxes), halfExtents=half,
                                                 visualFramePositions=at, visualFrameOrientations=rot,
                                                 rgbaColors=[list(color)] * len(boxes), physicsClientId=cid))
        else:
            cols.append(-1)
            viss.append(-1)
        for k, h in enumerate(hulls):
            inner = _shrunk_hull(h, self.HULL_MARGIN_M, f"assembly {name!r}: hull {k}")
            cols.append(p.createCollisionShape(p.GEOM_MESH, vertices=inner.tolist(), physicsClientId=cid))
            viss.append(p.createVisualShape(p.GEOM_MESH, vertices=h.tolist(), indices=_hull_triangles(h),
                                            rgbaColor=list(color), physicsClientId=cid))
        k = len(cols) - 1
        zero, ident = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]
        bid = p.createMultiBody(
            baseMass=0.0, baseCollisionShapeIndex=cols[0], baseVisualShapeIndex=viss[0],
            basePosition=list(map(float, pos)), baseOrientation=list(map(float, quat)),
            linkMasses=[0.0] * k, linkCollisionShapeIndices=cols[1:], linkVisualShapeIndices=viss[1:],
            linkPositions=[zero] * k, linkOrientations=[ident] * k, linkInertialFramePositions=[zero] * k,
            linkInertialFrameOrientations=[ident] * k, linkParentIndices=[0] * k,
            linkJointTypes=[p.JOINT_FIXED] * k, linkJointAxis=[[0.0, 0.0, 1.0]] * k, physicsClientId=cid)
        for j in range(-1, k):
            kw = {"collisionMargin": float(collision_margin_m)} if j < 0 and collision_margin_m is not None else {}
            p.changeDynamics(bid, j, lateralFriction=friction, physicsClientId=cid, **kw)
        for j in range(k):
            m = p.getDynamicsInfo(bid, j, physicsClientId=cid)[-1]
            if abs(m - self.HULL_MARGIN_M) > 1e-9:
                raise RuntimeError(f"assembly {name!r}: PyBullet gave a hull the collision margin {m} m, "
                                   f"not {self.HULL_MARGIN_M} m")
        aabbs = [p.getAABB(bid, j, physicsClientId=cid) for j in range(-1 if boxes else 0, k)]
        lo = np.min([a for a, _ in aabbs], axis=0)
        hi = np.max([b for _, b in aabbs], axis=0)
        obj = SimObject(bid, "assembly", name, tuple(float(v) for v in hi - lo), 0.0)
        self.objects.append(obj)
        return obj

    def add_bin(self, center_xyz, inner_size_xy=(0.22, 0.22), wall_height: float = 0.08,
                wall_thickness: float = 0.01, color=(0.3, 0.3, 0.32, 1.0), name: str = "bin") -> SimObject:
        """A static open-top bin standing on the surface at ``center_xyz[2]``."""
        cx, cy, cz = center_xyz
        ix, iy = inner_size_xy
        t, h = wall_thickness, wall_height
        parts = [  # (half extents, centre offset)
            ((ix / 2 + t, iy / 2 + t, t / 2), (0, 0, t / 2)),  # floor
            ((t / 2, iy / 2 + t, h / 2), (ix / 2 + t / 2, 0, h / 2)),
            ((t / 2, iy / 2 + t, h / 2), (-ix / 2 - t / 2, 0, h / 2)),
            ((ix / 2, t / 2, h / 2), (0, iy / 2 + t / 2, h / 2)),
            ((ix / 2, t / 2, h / 2), (0, -iy / 2 - t / 2, h / 2)),
        ]
        cid = self.client_id
        col = p.createCollisionShapeArray(
            [p.GEOM_BOX] * 5, halfExtents=[list(a) for a, _ in parts],
            collisionFramePositions=[list(b) for _, b in parts], physicsClientId=cid,
        )
        vis = p.createVisualShapeArray(
            [p.GEOM_BOX] * 5, halfExtents=[list(a) for a, _ in parts],
            visualFramePositions=[list(b) for _, b in parts], rgbaColors=[list(color)] * 5, physicsClientId=cid,
        )
        bid = self._body(col, vis, 0.0, (cx, cy, cz))
        p.changeDynamics(bid, -1, lateralFriction=0.8, physicsClientId=cid)
        obj = SimObject(bid, "bin", name, (ix, iy, h), 0.0)
        self.objects.append(obj)
        return obj

    def add_planning_scene(self, scene, *, world_T_base=None, friction: float = 0.8,
                           colors: dict | None = None) -> list[SimObject]:
        """Static bodies for every obstacle of a `PlanningScene` (the same data the planner
        reads). Poses are of each shape's centre in the robot's base frame; ``world_T_base``
        (4x4, default identity) places that frame in the world. ``colors`` maps obstacle names
        to RGBA (default grey)."""
        from officina.controllers.planning.scene import Box, Cylinder, Mesh, Sphere

        cid = self.client_id
        T_wb = np.eye(4) if world_T_base is None else np.asarray(world_T_base, dtype=float)
        out = []
        for o in scene.obstacles:
            color = list((colors or {}).get(o.name, (0.55, 0.55, 0.58, 1.0)))
            sh = o.shape
            if isinstance(sh, Box):
                half = [float(v) / 2 for v in sh.size]
                col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
                vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=color, physicsClientId=cid)
                kind, size = "box", tuple(float(v) for v in sh.size)
            elif isinstance(sh, Cylinder):
                col = p.createCollisionShape(p.GEOM_CYLINDER, radius=sh.radius, height=sh.length, physicsClientId=cid)
                vis = p.createVisualShape(p.GEOM_CYLINDER, radius=sh.radius, length=sh.length, rgbaColor=color,
                                          physicsClientId=cid)
                kind, size = "cylinder", (float(sh.radius), float(sh.length))
            elif isinstance(sh, Sphere):
                col = p.createCollisionShape(p.GEOM_SPHERE, radius=sh.radius, physicsClientId=cid)
                vis = p.createVisualShape(p.GEOM_SPHERE, radius=sh.radius, rgbaColor=color, physicsClientId=cid)
                kind, size = "sphere", (float(sh.radius),)
            elif isinstance(sh, Mesh):
                col = p.createCollisionShape(p.GEOM_MESH, fileName=sh.file, meshScale=list(sh.scale),
                                             flags=p.GEOM_FORCE_CONCAVE_TRIMESH, physicsClientId=cid)
                vis = p.createVisualShape(p.GEOM_MESH, fileName=sh.file, meshScale=list(sh.scale), rgbaColor=color,
                                          physicsClientId=cid)
                kind, size = "mesh", tuple(float(v) for v in sh.scale)
            else:
                raise ValueError(f"obstacle {o.name!r}: unknown shape {sh!r}")
            T = T_wb @ o.pose
            quat = _matrix_to_quat(T[:3, :3])
            bid = self._body(col, vis, 0.0, T[:3, 3], quat)
            p.changeDynamics(bid, -1, lateralFriction=friction, physicsClientId=cid)
            obj = SimObject(bid, kind, o.name, size, 0.0)
            self.objects.append(obj)
            out.append(obj)
        return out

    def load_robot(self, spec: RobotSpec, base_xyz=(0.0, 0.0, 0.0), base_quat=(0, 0, 0, 1)) -> SimRobotHandle:
        """Load the robot's URDF (fixed base, inertia from the file) and set it to its home pose."""
        cid = self.client_id
        flags = p.URDF_USE_INERTIA_FROM_FILE | p.URDF_ENABLE_CACHED_GRAPHICS_SHAPES
        try:
            bid = p.loadURDF(spec.urdf, basePosition=base_xyz, baseOrientation=base_quat,
                             useFixedBase=True, flags=flags, physicsClientId=cid)
        except p.error as exc:
            raise ValueError(f"robot {spec.name!r}: PyBullet could not load URDF {spec.urdf} ({exc})") from None
        joints: dict[str, int] = {}
        links: dict[str, int] = {p.getBodyInfo(bid, physicsClientId=cid)[0].decode(): -1}
        for j in range(p.getNumJoints(bid, physicsClientId=cid)):
            info = p.getJointInfo(bid, j, physicsClientId=cid)
            joints[info[1].decode()] = j
            links[info[12].decode()] = j
        missing = [n for n in spec.joint_names if n not in joints]
        if missing:
            raise ValueError(f"robot {spec.name!r}: joints {missing} not found in {spec.urdf}")
        for j in range(-1, p.getNumJoints(bid, physicsClientId=cid)):
            p.changeDynamics(bid, j, linearDamping=0.0, angularDamping=0.0, physicsClientId=cid)
        for n, q in zip(spec.joint_names, spec.home):
            p.resetJointState(bid, joints[n], float(q), 0.0, physicsClientId=cid)
        handle = SimRobotHandle(bid, spec, joints, links)
        self.robots.append(handle)
        return handle

    def add_sensor_box(self, center_xyz, size_xyz, name: str = "sensor") -> SimObject:
        """A box volume that collides with nothing (no contacts, no forces) and cameras do not see:
        the field of an area sensor or a light curtain, queried with `closest_distance`."""
        cid = self.client_id
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=[float(v) / 2 for v in size_xyz], physicsClientId=cid)
        # a body without a visual shape is drawn by its collision shape: give it a speck instead
        vis = p.createVisualShape(p.GEOM_SPHERE, radius=1e-5, rgbaColor=[0, 0, 0, 0], physicsClientId=cid)
        bid = self._body(col, vis, 0.0, center_xyz)
        p.setCollisionFilterGroupMask(bid, -1, 0, 0, physicsClientId=cid)
        obj = SimObject(bid, "sensor", name, tuple(float(v) for v in size_xyz), 0.0)
        self.objects.append(obj)
        return obj

    # --- scene processes (a task's before_step) --------------------------------------------------------
    def set_object_pose(self, body_id: int, pos, quat=(0.0, 0.0, 0.0, 1.0)) -> None:
        """Put a body at a pose (world frame) at rest and awake: how a task's scene process moves a
        fixture kinematically (a sliding door, one control period at a time) or a feeder places a
        part."""
        cid = self.client_id
        p.resetBasePositionAndOrientation(body_id, [float(v) for v in pos], [float(v) for v in quat],
                                          physicsClientId=cid)
        p.resetBaseVelocity(body_id, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=cid)
        p.changeDynamics(body_id, -1, activationState=p.ACTIVATION_STATE_WAKE_UP, physicsClientId=cid)

    def set_object_color(self, body_id: int, rgba) -> None:
        """Recolour a body's base (a part that changed state, e.g. machined)."""
        p.changeVisualShape(body_id, -1, rgbaColor=[float(v) for v in rgba], physicsClientId=self.client_id)

    # --- ground truth (metrics only) ---------------------------------------------------------------
    def contact_points(self, body_a: int, body_b: int | None = None) -> list[SimContact]:
        """The contact points of the last physics step between ``body_a`` and ``body_b`` (any
        body when None)."""
        kw = {} if body_b is None else {"bodyB": int(body_b)}
        pts = p.getContactPoints(bodyA=int(body_a), physicsClientId=self.client_id, **kw) or ()
        return [SimContact(int(c[1]), int(c[3]), int(c[2]), int(c[4]), tuple(float(v) for v in c[5]),
                           float(c[9]), float(c[8])) for c in pts]

    def closest_distance(self, body_a: int, body_b: int, max_distance_m: float = 0.0) -> float | None:
        """The smallest signed distance (m, < 0 when they overlap) between two bodies, or None when
        they are farther apart than ``max_distance_m``."""
        pts = p.getClosestPoints(int(body_a), int(body_b), float(max_distance_m), physicsClientId=self.client_id)
        return min(float(c[8]) for c in pts) if pts else None

    def object_pose(self, body_id: int) -> tuple[np.ndarray, np.ndarray]:
        pos, quat = p.getBasePositionAndOrientation(body_id, physicsClientId=self.client_id)
        return np.array(pos), np.array(quat)

    def object_poses(self, body_ids) -> np.ndarray:
        """(K, 7) x y z qx qy qz qw of bodies' bases (`object_pose` of each, as one array)."""
        cid = self.client_id
        rows = [pos + quat for pos, quat in (p.getBasePositionAndOrientation(b, physicsClientId=cid)
                                            for b in body_ids)]
        return np.array(rows, dtype=float).reshape(len(rows), 7)

    def reset_object(self, body_id: int, pos, quat=(0.0, 0.0, 0.0, 1.0)) -> None:
        """Put a body at a pose, at rest (scene building: a part dropped again)."""
        cid = self.client_id
        p.resetBasePositionAndOrientation(body_id, list(map(float, pos)), list(map(float, quat)), physicsClientId=cid)
        p.resetBaseVelocity(body_id, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=cid)

    def sleep(self, body_id: int) -> None:
        """Deactivate a body at rest until something touches it (Bullet's sleeping, which this
        PyBullet does not do on its own for multibodies): a resting heap of parts then costs the
        physics step nearly nothing. A contact with an active body wakes its whole island."""
        p.changeDynamics(body_id, -1, activationState=p.ACTIVATION_STATE_SLEEP, physicsClientId=self.client_id)

    def object_velocity(self, body_id: int) -> tuple[np.ndarray, np.ndarray]:
        lin, ang = p.getBaseVelocity(body_id, physicsClientId=self.client_id)
        return np.array(lin), np.array(ang)

    def contact_force(self, body_a: int, body_b: int) -> tuple[np.ndarray, int]:
        """The net force (N, world frame) that ``body_b`` applied to ``body_a`` in the last physics
        step (normal and friction forces of every contact point, any link of either body), and
        the number of contact points."""
        pts = p.getContactPoints(body_a, body_b, physicsClientId=self.client_id)
        if not pts:
            return np.zeros(3), 0
        a = np.asarray([c[7] + c[11] + c[13] for c in pts], dtype=float).reshape(-1, 3, 3)
        k = np.asarray([(c[9], c[10], c[12]) for c in pts], dtype=float)
        # a[:, 0]: the contact normal on b, pointing towards a, k[:, 0] its force; a[:, 1:] the
        # friction directions and k[:, 1:] their forces, which PyBullet reports in the order of
        # the contact manifold whatever the order of the query: along the directions for a when
        # (normal, dir1, dir2) is right-handed (the manifold's own normal), against them when the
        # query turned the normal round
        k[:, 1:] *= np.sign(np.einsum("pi,pi->p", np.cross(a[:, 0], a[:, 1]), a[:, 2]))[:, None]
        return np.einsum("pi,pij->j", k, a), len(pts)

    def touching(self, body_a: int, body_b: int) -> bool:
        """Whether the two bodies had a contact point in the last physics step."""
        return bool(p.getContactPoints(bodyA=body_a, bodyB=body_b, physicsClientId=self.client_id))

    def set_object_velocity(self, body_id: int, linear=(0.0, 0.0, 0.0), angular=(0.0, 0.0, 0.0)) -> None:
        """Set a body's linear (m/s) and angular (rad/s) velocity, world frame (a kinematic conveyor
        drives what lies on it this way every control period)."""
        p.resetBaseVelocity(body_id, [float(v) for v in linear], [float(v) for v in angular],
                            physicsClientId=self.client_id)

    def link_pose(self, body_id: int, link_index: int) -> tuple[np.ndarray, np.ndarray]:
        if link_index < 0:
            return self.object_pose(body_id)
        ls = p.getLinkState(body_id, link_index, computeForwardKinematics=1, physicsClientId=self.client_id)
        return np.array(ls[4]), np.array(ls[5])

    def contacts(self, body_id: int, other_id: int | None = None) -> list[tuple[int, int, int, float]]:
        """Contact points of a body (with ``other_id`` only, or with any body) after the last step,
        ground truth: (other body, link of ``body_id``, link of the other, normal force N) each,
        link -1 for a base."""
        pts = p.getContactPoints(bodyA=body_id, physicsClientId=self.client_id) if other_id is None else \
            p.getContactPoints(bodyA=body_id, bodyB=other_id, physicsClientId=self.client_id)
        return [(int(c[2]), int(c[3]), int(c[4]), float(c[9])) for c in pts]

    def joint_state(self, robot: SimRobotHandle) -> tuple[np.ndarray, np.ndarray]:
        """The robot's arm joint positions and velocities (its joint order), as its encoders
        report them to the robot controller (e.g. for a safety function running beside it)."""
        idx = [robot.joint_index[n] for n in robot.spec.joint_names]
        st = p.getJointStates(robot.body_id, idx, physicsClientId=self.client_id)
        return np.array([s[0] for s in st]), np.array([s[1] for s in st])

    def tcp_position(self, robot: SimRobotHandle) -> np.ndarray:
        """World position of the robot's tcp (its ``tcp_parent`` link and the spec's offset), ground truth."""
        spec = robot.spec
        pos, quat = self.link_pose(robot.body_id, robot.link_index[spec.tcp_parent])
        off_q = p.getQuaternionFromEuler(spec.tcp_offset_rpy)
        out, _ = p.multiplyTransforms(pos.tolist(), quat.tolist(), list(spec.tcp_offset_xyz), off_q)
        return np.array(out)

    def close(self) -> None:
        if not self._closed:
            try:
                p.disconnect(physicsClientId=self.client_id)
            except p.error:
                pass
            self._closed = True

    def __enter__(self) -> "SimWorld":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass
