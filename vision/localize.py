"""Markerless localisation of boxes and cylinders standing on a horizontal table, from RGB-D.

Pipeline (`localize_objects`): depth -> world points (camera extrinsics needed; with the table
height given, only of the pixels that may stand above it) -> table height (the dominant
horizontal plane, or given) -> pixels standing above the table -> connected
components in the image -> per object: top face -> footprint in the table plane (minimum-area
rectangle vs enclosing circle decides box or cylinder) -> position, yaw, size.

Conventions: world z is up and the table top is horizontal. ``position`` is the centre of the
object's volume in the world frame (footprint centre, half its height above the table).
A box's ``yaw_rad`` is the direction of its longer footprint side about world z, in (-pi/2, pi/2]
(a box is symmetric under a half turn); a cylinder has no yaw (0.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from officina.interfaces import CameraFrame, CameraIntrinsics

from .geometry import depth_to_point_cloud, footprint_fit, has_distortion, undistort_pixels

__all__ = ["LocalizeParams", "LocalizedObject", "localize_objects", "estimate_table_height"]


@dataclass(frozen=True)
class LocalizeParams:
    """``table_height_m``: z of the table top in the world (None: estimated from the points).
    ``min_height_m``: what rises less above the table is table. ``min_pixels``: smaller blobs are
    ignored. ``max_depth_m``: farther pixels are ignored. ``xy_bounds``: optional (xmin, xmax,
    ymin, ymax) world workspace."""

    table_height_m: float | None = None
    min_height_m: float = 0.008
    min_pixels: int = 60
    max_depth_m: float = 3.0
    xy_bounds: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.min_height_m <= 0 or self.min_pixels < 1 or self.max_depth_m <= 0:
            raise ValueError("LocalizeParams: min_height_m, min_pixels and max_depth_m must be positive")


@dataclass(frozen=True)
class LocalizedObject:
    kind: str  # "box" | "cylinder"
    position: np.ndarray  # world, m: centre of the object's volume
    yaw_rad: float
    size_m: tuple[float, float, float]  # box: length, width, height; cylinder: diameter, diameter, height
    pixels: int
    centroid_px: tuple[float, float]

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "position": [float(v) for v in self.position],
            "yaw_rad": float(self.yaw_rad),
            "size_m": [float(v) for v in self.size_m],
            "pixels": int(self.pixels),
        }


def estimate_table_height(z: np.ndarray, bin_m: float = 0.002) -> float:
    """Height of the dominant horizontal surface: the mode of the points' z, refined by a median."""
    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    if z.size < 10:
        raise ValueError("table estimation: fewer than 10 valid depth points")
    lo, hi = float(z.min()), float(z.max())
    bins = max(1, int(np.ceil((hi - lo) / bin_m)))
    hist, edges = np.histogram(z, bins=bins, range=(lo, lo + bins * bin_m))
    k = int(np.argmax(hist))
    near = z[(z >= edges[k] - bin_m) & (z <= edges[k + 1] + bin_m)]
    return float(np.median(near))


def _percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` of finite values, with its default linear interpolation: the
    two order statistics around rank (n - 1) q / 100, by np.partition, blended from the nearer
    one as numpy blends them."""
    rank = (len(values) - 1) * (q / 100)
    lo = int(np.floor(rank))
    hi = min(lo + 1, len(values) - 1)
    part = np.partition(values, (lo, hi))
    a, b = float(part[lo]), float(part[hi])
    t = rank - lo
    return a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)


def _may_rise_above(depth: np.ndarray, intrinsics: CameraIntrinsics, world_T_camera: np.ndarray,
                    z_m: float) -> np.ndarray:
    """HxW bool: the pixels whose world point may lie above ``z_m``. A pixel's world height,
    z (R[2] . ray) + t_z, is computed here over the image; the point cloud sums the same products
    in another order, so the two differ by rounding (some 1e-15 m), far inside the 1 um margin."""
    H, W = depth.shape
    if has_distortion(intrinsics):
        vs, us = np.mgrid[0:H, 0:W]
        x, y = undistort_pixels(np.column_stack([us.ravel(), vs.ravel()]), intrinsics).T.reshape(2, H, W)
    else:
        x = ((np.arange(W) - intrinsics.cx) / intrinsics.fx)[None, :]
        y = ((np.arange(H) - intrinsics.cy) / intrinsics.fy)[:, None]
    T = np.asarray(world_T_camera, float)
    with np.errstate(invalid="ignore"):  # nothing measured: inf or NaN depth, never a candidate
        return depth * (T[2, 0] * x + T[2, 1] * y + T[2, 2]) + T[2, 3] > z_m - 1e-6


def _object_on_table(P: np.ndarray, table: float, top: float, pitch: float, pixels: int,
                     centroid_px: tuple[float, float]) -> LocalizedObject:
    """The upright box or cylinder standing on the table at z = ``table`` whose visible points
    are ``P`` (world, Nx3) and whose top is ``top`` above the table; ``pitch``: the footprint of
    a pixel at the top's range."""
    # the top face is the footprint of an upright prism; pixels sample it at their centres, so
    # the footprint is grown by half a pixel's footprint on the table at that range
    top_pts = P[P[:, 2] - table >= top - max(0.003, 0.05 * top)]
    if len(top_pts) < 5:
        top_pts = P
    hull, ((rx, ry), (rw, rh), ang), (_, rad), rect_fill, circ_fill = footprint_fit(top_pts[:, :2].astype(np.float32))
    if circ_fill > rect_fill:
        # least-squares circle through the hull's boundary points refines the enclosing circle
        bx, by = hull.reshape(-1, 2).T.astype(float)
        A = np.column_stack([2 * bx, 2 * by, np.ones_like(bx)])
        sol = np.linalg.lstsq(A, bx**2 + by**2, rcond=None)[0]
        cx, cy = sol[0], sol[1]
        r = float(np.sqrt(max(sol[2] + cx**2 + cy**2, 0.0))) if len(bx) >= 6 else float(rad)
        d = 2 * r + pitch
        return LocalizedObject("cylinder", np.array([cx, cy, table + top / 2]), 0.0, (d, d, top), pixels, centroid_px)
    yaw = np.deg2rad(ang)
    length, width = rw + pitch, rh + pitch
    if rh > rw:
        length, width = rh + pitch, rw + pitch
        yaw += np.pi / 2
    yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2  # (-pi/2, pi/2]
    if yaw <= -np.pi / 2 + 1e-12:
        yaw += np.pi
    return LocalizedObject("box", np.array([rx, ry, table + top / 2]), float(yaw), (length, width, top), pixels, centroid_px)


def localize_objects(
    frame: CameraFrame, intrinsics: CameraIntrinsics, world_T_camera: np.ndarray, params: LocalizeParams = LocalizeParams()
) -> list[LocalizedObject]:
    """Boxes and cylinders on the table in an RGB-D frame, sorted by x then y of their position."""
    import cv2

    if frame.depth_m is None:
        raise ValueError("localize_objects: the frame has no depth image; expected an RGB-D camera")
    if world_T_camera is None:
        raise ValueError("localize_objects: the camera extrinsics (world_T_camera) are needed")
    H, W = intrinsics.height, intrinsics.width
    depth = np.asarray(frame.depth_m)
    # With the table height known, only the pixels that may stand above it become points.
    table = params.table_height_m
    near_top = None if table is None else _may_rise_above(depth, intrinsics, world_T_camera, table + params.min_height_m)
    pts, _, uv = depth_to_point_cloud(depth, intrinsics, world_T_camera=world_T_camera,
                                      max_depth_m=params.max_depth_m, mask=near_top)
    if len(pts) == 0:
        return []
    if table is None:
        table = estimate_table_height(pts[:, 2])
    above = pts[:, 2] - table > params.min_height_m
    if params.xy_bounds is not None:
        x0, x1, y0, y1 = params.xy_bounds
        above &= (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
    ui, vi = uv[:, 0].astype(int), uv[:, 1].astype(int)
    mask = np.zeros((H, W), np.uint8)
    mask[vi[above], ui[above]] = 1
    # an opening keeps a subset of the mask, so every labelled pixel has its point in pts
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
    point_label = labels[vi, ui]
    cam_z = np.asarray(world_T_camera, float)[:3, 3][2]
    out: list[LocalizedObject] = []
    for k in range(1, n):
        area = int(stats[k, cv2.CC_STAT_AREA])
        if area < params.min_pixels:
            continue
        P = pts[point_label == k]  # the component's points, in row-major pixel order
        top = _percentile(P[:, 2] - table, 98)
        if top <= params.min_height_m:
            continue
        pitch = float(abs(cam_z - (table + top)) / intrinsics.fx)
        out.append(_object_on_table(P, table, top, pitch, area, (float(cents[k][0]), float(cents[k][1]))))
    out.sort(key=lambda o: (round(float(o.position[0]), 4), round(float(o.position[1]), 4)))
    return out
