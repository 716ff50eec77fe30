"""Parts lying jumbled in a bin, from one RGB-D frame: segmentation of touching parts and the pose
of each part's visible top (a face of a box, the cap of a cylinder, or the side of a cylinder
lying down), tilted or not.

Pipeline (`localize_parts`):

1. depth -> organised world points; what rises above the bin floor inside the region of
   interest (the bin's inside) is parts;
2. surface normals from the points (central differences over ``normal_step_px``);
3. boundaries between parts and between faces of a part: a jump in depth, a crease (the normals
   on either side of a pixel differ by more than ``crease_deg``), or a change of colour (CIE Lab
   distance); the rest splits into connected regions;
4. each region is fitted: a plane (SVD), or, when it is curved, a cylinder (its axis is the
   direction perpendicular to all its normals, its section a least-squares circle). A planar
   region grows back over the boundary pixels that lie on its plane, so a face keeps its full
   extent; its outline in the plane decides rectangle (a box face) or circle (a cylinder cap);
5. per part, the frame of its top (``world_T_top``: origin at the centre of the visible top, z
   out of the part, x along a box face's longer side or a lying cylinder's axis), its extent, and
   whether a higher neighbour hides part of its outline (``occluded``).

Steep faces (sides of boxes seen at a grazing angle) are not tops: they are reported in
``sides`` of `PartsResult` only as obstacles. Conventions as in `officina.vision.localize`:
world z up, metres and radians, quaternions (x, y, z, w).

The depth of a part below its top is not seen; ``depth_to_floor_m`` is the distance from the
top down to the floor along the top's normal, which bounds it from above (a part lying on
another is thinner than that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from officina.interfaces import CameraFrame, CameraIntrinsics

from .geometry import depth_to_point_cloud, footprint_fit

__all__ = ["PartsParams", "LocalizedPart", "PartsResult", "localize_parts", "top_frame", "top_frame_error",
           "top_size", "top_size_error"]


@dataclass(frozen=True)
class PartsParams:
    """``floor_height_m``: z of the bin floor in the world. ``roi_xy``: (xmin, xmax, ymin, ymax),
    the bin's inside (world). ``min_height_m``: what rises less above the floor is floor.
    ``depth_edge_m``: a depth step larger than this between pixels two apart separates surfaces.
    ``crease_deg``: the normals two pixels apart differing more than this separate faces.
    ``colour_edge``: a CIE Lab distance (0-255 scale) larger than this separates parts.
    ``plane_tol_m``: RMS residual up to which a region is planar; ``min_pixels``: smaller
    regions are not parts. ``max_top_tilt_deg``: a planar face tilted more than this is a side,
    not a top. ``exclude_aabbs``: world boxes (xmin, xmax, ymin, ymax, zmin, zmax) whose points
    are known fixtures (a bin's walls), neither parts nor neighbours that hide one."""

    floor_height_m: float
    roi_xy: tuple[float, float, float, float]
    min_height_m: float = 0.006
    depth_edge_m: float = 0.006
    crease_deg: float = 30.0
    colour_edge: float = 18.0
    normal_step_px: int = 2
    plane_tol_m: float = 0.0015
    min_pixels: int = 60
    max_top_tilt_deg: float = 45.0
    max_depth_m: float = 3.0
    exclude_aabbs: tuple[tuple[float, float, float, float, float, float], ...] = ()

    def __post_init__(self) -> None:
        x0, x1, y0, y1 = self.roi_xy
        if not (x0 < x1 and y0 < y1):
            raise ValueError("PartsParams: roi_xy must be (xmin, xmax, ymin, ymax) with min < max")
        if min(self.min_height_m, self.depth_edge_m, self.crease_deg, self.colour_edge, self.plane_tol_m) <= 0:
            raise ValueError("PartsParams: thresholds must be positive")
        if self.normal_step_px < 1 or self.min_pixels < 1:
            raise ValueError("PartsParams: normal_step_px and min_pixels must be >= 1")


@dataclass(frozen=True)
class LocalizedPart:
    """One part's visible top. ``kind``: "box" or "cylinder"; ``top``: "face" (a box face),
    "cap" (a cylinder's end) or "side" (a cylinder lying on its side). ``world_T_top`` (4x4):
    origin at the centre of the top, z out of the part (up), x along the longer side (box face),
    the axis (lying cylinder), or world x projected on the cap. ``size_m``: (along x, along y)
    extents of the top; a cap's diameter twice; a lying cylinder's length and diameter.
    ``radius_m``: a cylinder's radius (0 for a box). ``depth_to_floor_m``: from the top's centre
    down to the floor along -z of the top. ``occluded``: a higher neighbour hides part of the
    outline (the extent and centre may be short). ``height_m``: z of the top's centre above the
    floor. ``residual_m``: RMS of the fit."""

    kind: str
    top: str
    world_T_top: np.ndarray
    size_m: tuple[float, float]
    radius_m: float
    depth_to_floor_m: float
    height_m: float
    occluded: bool
    pixels: int
    residual_m: float
    centroid_px: tuple[float, float]

    @property
    def position(self) -> np.ndarray:
        return self.world_T_top[:3, 3].copy()

    @property
    def normal(self) -> np.ndarray:
        return self.world_T_top[:3, 2].copy()

    @property
    def tilt_rad(self) -> float:
        """Angle between the top's normal and world z."""
        return float(np.arccos(np.clip(self.world_T_top[2, 2], -1.0, 1.0)))

    def to_json(self) -> dict:
        from .transforms import matrix_to_quat

        return {
            "kind": self.kind, "top": self.top,
            "position": [round(float(v), 5) for v in self.world_T_top[:3, 3]],
            "quaternion_xyzw": [round(float(v), 6) for v in matrix_to_quat(self.world_T_top[:3, :3])],
            "size_m": [round(float(v), 5) for v in self.size_m], "radius_m": round(float(self.radius_m), 5),
            "depth_to_floor_m": round(float(self.depth_to_floor_m), 5), "occluded": bool(self.occluded),
            "pixels": int(self.pixels),
        }


@dataclass(frozen=True)
class PartsResult:
    """``parts``: the tops found, highest first. ``sides``: (centre, extent) boxes, world
    axis-aligned, of the regions that are not tops (steep faces, unclassified), for obstacles.
    ``labels``: the region of every pixel (0: none), for inspection."""

    parts: list[LocalizedPart]
    sides: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    labels: np.ndarray | None = None


def _frame(origin, z, x_hint) -> np.ndarray:
    z = np.asarray(z, float) / np.linalg.norm(z)
    x = np.asarray(x_hint, float) - np.dot(x_hint, z) * z
    if np.linalg.norm(x) < 1e-9:
        x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, np.cross(z, x), z, origin
    return T


def _normals(P: np.ndarray, step: int) -> np.ndarray:
    """Unit normals (H, W, 3) of an organised point image (NaN where undefined), pointing up."""
    H, W, _ = P.shape
    N = np.full_like(P, np.nan)
    du = P[step:-step, 2 * step:] - P[step:-step, :-2 * step]
    dv = P[2 * step:, step:-step] - P[:-2 * step, step:-step]
    n = np.cross(du, dv)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n / norm
    n = np.where(n[..., 2:3] < 0, -n, n)
    N[step:-step, step:-step] = n
    return N


def _edges(P, N, lab, valid, params: PartsParams) -> np.ndarray:
    """Boundary pixels: depth steps, creases and colour changes between the pixels one step
    either side (both directions); pixels next to invalid ones too."""
    H, W, _ = P.shape
    edge = np.zeros((H, W), bool)
    z = P[..., 2]
    cos_c = np.cos(np.deg2rad(params.crease_deg))
    for axis in (0, 1):
        sl_a = [slice(None), slice(None)]
        sl_b = [slice(None), slice(None)]
        sl_c = [slice(None), slice(None)]
        sl_a[axis], sl_b[axis], sl_c[axis] = slice(0, -2), slice(2, None), slice(1, -1)
        a, b, c = tuple(sl_a), tuple(sl_b), tuple(sl_c)
        with np.errstate(invalid="ignore"):
            dz = np.abs(z[b] - z[a])
            dot = np.sum(N[b] * N[a], axis=-1)
            dcol = np.linalg.norm(lab[b] - lab[a], axis=-1)
        e = (dz > params.depth_edge_m) | (dot < cos_c) | (dcol > params.colour_edge)
        e |= ~(valid[a] & valid[b])
        e |= ~np.isfinite(dot)
        edge[c] |= e
    return edge


def _plane(Q: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    c = Q.mean(axis=0)
    _, s, vt = np.linalg.svd(Q - c, full_matrices=False)
    n = vt[2]
    if n[2] < 0:
        n = -n
    return c, n, float(s[2] / np.sqrt(len(Q)))


def _circle(xy: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Least-squares circle (Kasa): centre, radius, RMS radial residual."""
    A = np.column_stack([2 * xy[:, 0], 2 * xy[:, 1], np.ones(len(xy))])
    sol = np.linalg.lstsq(A, (xy**2).sum(axis=1), rcond=None)[0]
    c = sol[:2]
    r = float(np.sqrt(max(sol[2] + c @ c, 0.0)))
    res = float(np.sqrt(np.mean((np.linalg.norm(xy - c, axis=1) - r) ** 2)))
    return c, r, res


def top_frame(kind: str, size_m, world_T_part: np.ndarray) -> tuple[str, np.ndarray]:
    """The frame of the top of a part lying at ``world_T_part`` (its centre; a box's full extents
    along its axes, a cylinder's (radius, height) with its axis along z), as `localize_parts`
    reports it: (top, world_T_top). For ground truth: comparing it with a localised
    ``world_T_top`` measures the localisation (`top_frame_error`)."""
    R, c = world_T_part[:3, :3], world_T_part[:3, 3]
    if kind == "box":
        k = int(np.argmax(np.abs(R[2, :])))
        s = np.sign(R[2, k])
        n = s * R[:, k]
        half = 0.5 * np.asarray(size_m, float)
        others = [i for i in range(3) if i != k]
        i_long = others[0] if half[others[0]] >= half[others[1]] else others[1]
        return "face", _frame(c + n * half[k], n, R[:, i_long])
    r, h = float(size_m[0]), float(size_m[1])
    axis = R[:, 2]
    if abs(axis[2]) >= np.cos(np.deg2rad(45.0)):
        n = np.sign(axis[2]) * axis
        return "cap", _frame(c + n * h / 2, n, [1.0, 0.0, 0.0])
    up = np.array([0.0, 0.0, 1.0]) - axis[2] * axis
    up /= np.linalg.norm(up)
    return "side", _frame(c + up * r, up, axis)


def top_size(kind: str, size_m, world_T_part: np.ndarray) -> tuple[float, float]:
    """The extents (along x, along y of `top_frame`'s frame) of the top of a part lying at
    ``world_T_part``, as `LocalizedPart.size_m` reports them; ground truth for `top_size_error`."""
    R = world_T_part[:3, :3]
    if kind == "box":
        k = int(np.argmax(np.abs(R[2, :])))
        a, b = sorted((float(size_m[i]) for i in range(3) if i != k), reverse=True)
        return a, b
    r, h = float(size_m[0]), float(size_m[1])
    if abs(R[2, 2]) >= np.cos(np.deg2rad(45.0)):
        return 2 * r, 2 * r
    return h, 2 * r


def top_size_error(T_est: np.ndarray, size_est, T_true: np.ndarray, size_true) -> float:
    """Largest difference (m) between a localised top's extents and the true top's extents along
    the same two directions (the localised frame's x and y): a top whose hidden part made the
    shorter side look the longer, so that its frame is a quarter turn off, shows here as the
    extent it missed."""
    ex = np.abs(T_est[:3, :2].T @ T_true[:3, :2])  # |cos| between the localised and the true in-plane axes
    along = ex @ np.asarray(size_true, float)  # the true extents, seen along the localised axes
    return float(np.max(np.abs(np.asarray(size_est, float) - along)))


def top_frame_error(T_est: np.ndarray, T_true: np.ndarray, top: str,
                    quarter_turns: bool = False) -> tuple[float, float]:
    """(position error m, orientation error rad) between two top frames, modulo the symmetries of
    the top: a half turn about z for a face or a lying cylinder's side, any turn about z for a cap.
    With ``quarter_turns`` a face also modulo a quarter turn about z: the error of its plane and
    edges, whichever side the frames call the longer (`top_size_error` measures that)."""
    d = float(np.linalg.norm(T_est[:3, 3] - T_true[:3, 3]))
    if top == "cap":
        return d, float(np.arccos(np.clip(T_est[:3, 2] @ T_true[:3, 2], -1.0, 1.0)))
    best = np.inf
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # a quarter turn about z
    flips = [np.eye(3), np.diag([-1.0, -1.0, 1.0])]
    if quarter_turns and top == "face":
        flips += [quarter, quarter.T]
    for flip in flips:
        R = T_est[:3, :3] @ flip
        c = (np.trace(T_true[:3, :3].T @ R) - 1.0) / 2.0
        best = min(best, float(np.arccos(np.clip(c, -1.0, 1.0))))
    return d, best


def localize_parts(frame: CameraFrame, intrinsics: CameraIntrinsics, world_T_camera: np.ndarray,
                   params: PartsParams) -> PartsResult:
    """The parts in a bin seen in an RGB-D frame (see the module docstring), highest first."""
    import cv2

    if frame.depth_m is None:
        raise ValueError("localize_parts: the frame has no depth image; expected an RGB-D camera")
    if world_T_camera is None:
        raise ValueError("localize_parts: the camera extrinsics (world_T_camera) are needed")
    H, W = intrinsics.height, intrinsics.width
    pts, _, uv = depth_to_point_cloud(frame.depth_m, intrinsics, world_T_camera=world_T_camera,
                                      max_depth_m=params.max_depth_m)
    P = np.full((H, W, 3), np.nan)
    ui, vi = uv[:, 0].astype(int), uv[:, 1].astype(int)
    P[vi, ui] = pts
    floor = params.floor_height_m
    x0, x1, y0, y1 = params.roi_xy
    with np.errstate(invalid="ignore"):
        inside = (P[..., 0] >= x0) & (P[..., 0] <= x1) & (P[..., 1] >= y0) & (P[..., 1] <= y1)
        valid = np.isfinite(P[..., 2]) & inside
        for bx0, bx1, by0, by1, bz0, bz1 in params.exclude_aabbs:
            valid &= ~((P[..., 0] >= bx0) & (P[..., 0] <= bx1) & (P[..., 1] >= by0) & (P[..., 1] <= by1)
                       & (P[..., 2] >= bz0) & (P[..., 2] <= bz1))
        mask = valid & (P[..., 2] - floor > params.min_height_m)
    if not mask.any():
        return PartsResult([], [], np.zeros((H, W), np.int32))
    N = _normals(P, params.normal_step_px)
    lab = cv2.cvtColor(np.ascontiguousarray(frame.rgb, dtype=np.uint8), cv2.COLOR_RGB2LAB).astype(float)
    edge = _edges(P, N, lab, mask, params)
    core = mask & ~edge
    n_lab, labels = cv2.connectedComponents(core.astype(np.uint8), connectivity=4)
    cam = np.asarray(world_T_camera, float)[:3, 3]
    fx = intrinsics.fx
    # labelled pixels that are planar, and their planes, for growing faces back over boundaries
    planes: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
    regions: dict[int, np.ndarray] = {}
    sizes = np.bincount(labels.ravel(), minlength=n_lab)
    for k in range(1, n_lab):
        if sizes[k] < params.min_pixels // 2:
            continue
        sel = labels == k
        Q = P[sel]
        c, n, rms = _plane(Q)
        regions[k] = sel
        if rms <= params.plane_tol_m:
            planes[k] = (c, n, rms)
    # grow planar regions over the boundary pixels within 3 px that lie on their plane
    grown = labels.copy()
    free = mask & (labels == 0)
    best_d = np.full((H, W), np.inf)
    kernel = np.ones((7, 7), np.uint8)
    for k, (c, n, _) in planes.items():
        ring = cv2.dilate(regions[k].astype(np.uint8), kernel).astype(bool) & free
        if not ring.any():
            continue
        d = np.abs((P[ring] - c) @ n)
        ok = d < 2.5 * params.plane_tol_m + 0.001
        rr, cc = np.nonzero(ring)
        rr, cc, d = rr[ok], cc[ok], d[ok]
        better = d < best_d[rr, cc]
        grown[rr[better], cc[better]] = k
        best_d[rr[better], cc[better]] = d[better]
    parts: list[LocalizedPart] = []
    sides: list[tuple[np.ndarray, np.ndarray]] = []
    z_img = np.where(np.isfinite(P[..., 2]), P[..., 2], -np.inf)
    for k in regions:
        sel = grown == k
        npx = int(sel.sum())
        Q = P[sel]
        if npx < params.min_pixels:
            if npx >= 10:
                sides.append((0.5 * (Q.min(0) + Q.max(0)), Q.max(0) - Q.min(0)))
            continue
        part = (_planar_part(Q, planes[k], sel, cam, fx, params) if k in planes
                else _cylinder_part(Q, N[sel], sel, params))
        if part is None:
            sides.append((0.5 * (Q.min(0) + Q.max(0)), Q.max(0) - Q.min(0)))
            continue
        occluded = _occluded(sel, z_img, valid, params)
        vs, us = np.nonzero(sel)
        h = float(part.world_T_top[2, 3] - floor)
        n = part.world_T_top[:3, 2]
        depth = float(h / max(n[2], 0.2))
        parts.append(LocalizedPart(part.kind, part.top, part.world_T_top, part.size_m, part.radius_m,
                                   depth, h, occluded, npx, part.residual_m, (float(us.mean()), float(vs.mean()))))
    parts.sort(key=lambda q: -q.world_T_top[2, 3])
    return PartsResult(parts, sides, grown.astype(np.int32))


@dataclass(frozen=True)
class _Fit:
    kind: str
    top: str
    world_T_top: np.ndarray
    size_m: tuple[float, float]
    radius_m: float
    residual_m: float


def _planar_part(Q, plane, sel, cam, fx, params: PartsParams) -> _Fit | None:

    c, n, rms = plane
    if n[2] < np.cos(np.deg2rad(params.max_top_tilt_deg)):
        return None
    # in-plane coordinates: e1 = world x projected on the plane
    T0 = _frame(c, n, [1.0, 0.0, 0.0])
    e1, e2 = T0[:3, 0], T0[:3, 1]
    xy = np.column_stack([(Q - c) @ e1, (Q - c) @ e2]).astype(np.float32)
    # pixels sample the face at their centres: grow the outline by one pixel's footprint on it
    rng_m = float(np.linalg.norm(cam - c))
    pitch = rng_m / fx / max(abs(n @ (cam - c)) / rng_m, 0.3)
    hull, ((rx, ry), (rw, rh), ang), (_, rad), rect_fill, circ_fill = footprint_fit(xy)
    if circ_fill > rect_fill and circ_fill > 0.8:
        b = hull.reshape(-1, 2).astype(float)
        cc, r, _ = _circle(b) if len(b) >= 6 else (np.array([rx, ry]), float(rad), 0.0)
        r += pitch / 2
        origin = c + cc[0] * e1 + cc[1] * e2
        return _Fit("cylinder", "cap", _frame(origin, n, [1.0, 0.0, 0.0]), (2 * r, 2 * r), r, rms)
    a = np.deg2rad(ang)
    u = np.cos(a) * e1 + np.sin(a) * e2
    length, width = rw + pitch, rh + pitch
    if rh > rw:
        length, width = rh + pitch, rw + pitch
        u = np.cross(n, u)
    origin = c + rx * e1 + ry * e2
    return _Fit("box", "face", _frame(origin, n, u), (float(length), float(width)), 0.0, rms)


def _cylinder_part(Q, Nq, sel, params: PartsParams) -> _Fit | None:
    """A cylinder lying on its side: axis perpendicular to all normals, a circle in section."""
    Nq = Nq[np.all(np.isfinite(Nq), axis=1)]
    if len(Nq) < 20:
        return None
    _, _, vt = np.linalg.svd(Nq, full_matrices=False)
    axis = vt[2]
    if abs(axis[2]) > np.sin(np.deg2rad(35.0)):
        return None  # a steep curved surface: the side of a standing cylinder, not a top
    if axis[0] < 0:
        axis = -axis
    T0 = _frame(Q.mean(axis=0), axis, [0.0, 0.0, 1.0])  # z along the axis, x toward up
    e1, e2 = T0[:3, 0], T0[:3, 1]
    d = Q - T0[:3, 3]
    cc, r, res = _circle(np.column_stack([d @ e1, d @ e2]))
    if not (0.005 < r < 0.08) or res > 2 * params.plane_tol_m:
        return None
    t = d @ axis
    lo, hi = float(t.min()), float(t.max())
    centre = T0[:3, 3] + cc[0] * e1 + cc[1] * e2 + axis * 0.5 * (lo + hi)
    up = np.array([0.0, 0.0, 1.0]) - axis[2] * axis
    up /= np.linalg.norm(up)
    return _Fit("cylinder", "side", _frame(centre + up * r, up, axis), (hi - lo, 2 * r), r, res)


def _occluded(sel, z_img, valid, params: PartsParams) -> bool:
    """Does a nearer surface border the part's outline (a neighbour lying on it, which may hide
    some of it)? A pixel next to the outline occludes when it is higher, by more than a depth
    step, than the part's pixels beside it."""
    import cv2

    k = np.ones((5, 5), np.uint8)
    ring = cv2.dilate(sel.astype(np.uint8), k).astype(bool) & ~sel & valid
    if not ring.any():
        return False
    z_part = np.where(sel, z_img, -np.inf).astype(np.float32)
    beside = cv2.dilate(z_part, k)
    return bool(np.sum(z_img[ring] > beside[ring] + params.depth_edge_m) >= 3)
