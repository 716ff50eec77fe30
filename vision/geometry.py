"""Pinhole geometry: projecting points, back-projecting pixels with depth, depth -> point cloud.

Depth is metric z along the optical axis (not the ray length), as in `CameraFrame.depth_m`
and ROS ``depth/image_raw`` (32FC1 metres). Pixel (u, v) = (column, row) with integer pixel
centres. Points in the camera frame follow the optical convention (z forward, x right, y down).
Lens distortion is taken into account when the intrinsics carry it.
"""

from __future__ import annotations

import numpy as np

from officina.interfaces import CameraIntrinsics

__all__ = ["project_points", "pixel_to_camera", "pixel_to_world", "depth_to_point_cloud", "undistort_pixels",
           "footprint_fit", "has_distortion"]


def has_distortion(intr: CameraIntrinsics) -> bool:
    """Whether any lens distortion coefficient is non-zero."""
    return any(abs(float(d)) > 0.0 for d in intr.distortion)


def undistort_pixels(uv: np.ndarray, intr: CameraIntrinsics) -> np.ndarray:
    """Normalised image coordinates (x/z, y/z), Nx2, of distorted pixels Nx2."""
    uv = np.asarray(uv, dtype=float).reshape(-1, 2)
    if not has_distortion(intr):
        return np.column_stack([(uv[:, 0] - intr.cx) / intr.fx, (uv[:, 1] - intr.cy) / intr.fy])
    import cv2

    out = cv2.undistortPoints(uv.reshape(-1, 1, 2), intr.K, np.asarray(intr.distortion, dtype=float))
    return out.reshape(-1, 2)


def project_points(points_camera: np.ndarray, intr: CameraIntrinsics) -> np.ndarray:
    """Pixels Nx2 of camera-frame points Nx3 (with the lens distortion of ``intr``)."""
    P = np.asarray(points_camera, dtype=float).reshape(-1, 3)
    if np.any(P[:, 2] <= 0):
        raise ValueError("project_points: points must lie in front of the camera (z > 0)")
    if not has_distortion(intr):
        return np.column_stack([intr.fx * P[:, 0] / P[:, 2] + intr.cx, intr.fy * P[:, 1] / P[:, 2] + intr.cy])
    import cv2

    uv, _ = cv2.projectPoints(P, np.zeros(3), np.zeros(3), intr.K, np.asarray(intr.distortion, dtype=float))
    return uv.reshape(-1, 2)


def pixel_to_camera(uv, depth_m, intr: CameraIntrinsics) -> np.ndarray:
    """3-D point(s) in the camera optical frame of pixel(s) (u, v) at metric depth z.

    ``uv`` is (2,) or Nx2, ``depth_m`` a scalar or N values; returns (3,) or Nx3.
    """
    uv_arr = np.asarray(uv, dtype=float)
    single = uv_arr.ndim == 1
    xy = undistort_pixels(uv_arr.reshape(-1, 2), intr)
    z = np.broadcast_to(np.asarray(depth_m, dtype=float).reshape(-1), (xy.shape[0],))
    if np.any(~np.isfinite(z)) or np.any(z <= 0):
        raise ValueError("pixel_to_camera: depth must be finite and positive (metres)")
    pts = np.column_stack([xy * z[:, None], z])
    return pts[0] if single else pts


def pixel_to_world(uv, depth_m, intr: CameraIntrinsics, world_T_camera: np.ndarray) -> np.ndarray:
    """3-D point(s) in the world frame of pixel(s) at metric depth, given the camera's extrinsics."""
    pc = pixel_to_camera(uv, depth_m, intr)
    T = np.asarray(world_T_camera, dtype=float)
    return pc @ T[:3, :3].T + T[:3, 3]


def depth_to_point_cloud(
    depth_m: np.ndarray,
    intr: CameraIntrinsics,
    *,
    world_T_camera: np.ndarray | None = None,
    rgb: np.ndarray | None = None,
    stride: int = 1,
    max_depth_m: float | None = None,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Point cloud of a depth image: (points Nx3 [camera frame, or world if extrinsics given],
    colours Nx3 uint8 or None, pixels Nx2 (u, v) they come from), in row-major pixel order.
    Pixels with depth 0, inf or NaN (nothing measured) and beyond ``max_depth_m`` are dropped;
    ``stride`` subsamples rows and columns; ``mask`` (HxW bool) keeps only the pixels where it
    is true. A point does not depend on which other pixels are kept.
    """
    depth = np.asarray(depth_m)
    if depth.shape != (intr.height, intr.width):
        raise ValueError(f"depth image is {depth.shape}; the intrinsics expect ({intr.height}, {intr.width})")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    z = depth[::stride, ::stride].astype(float)
    ok = np.isfinite(z) & (z > 0)
    if max_depth_m is not None:
        ok &= z <= max_depth_m
    if mask is not None:
        if np.shape(mask) != depth.shape:
            raise ValueError(f"mask is {np.shape(mask)}; the depth image is {depth.shape}")
        ok &= np.asarray(mask, dtype=bool)[::stride, ::stride]
    vs, us = np.nonzero(ok)
    vs, us, z = vs * stride, us * stride, z[ok]
    uv = np.column_stack([us, vs]).astype(float)
    pts = np.empty((len(z), 3))
    if has_distortion(intr):
        pts[:, :2] = undistort_pixels(uv, intr) * z[:, None]
    else:
        pts[:, 0] = (us - intr.cx) / intr.fx * z
        pts[:, 1] = (vs - intr.cy) / intr.fy * z
    pts[:, 2] = z
    if world_T_camera is not None:
        T = np.asarray(world_T_camera, dtype=float)
        pts = pts @ T[:3, :3].T + T[:3, 3]
    colours = None
    if rgb is not None:
        colours = np.asarray(rgb)[vs, us].reshape(-1, 3).astype(np.uint8)
    return pts, colours, uv


def footprint_fit(xy: np.ndarray) -> tuple[np.ndarray, tuple, tuple, float, float]:
    """A face's outline from its points in the face's plane (Nx2 float32): the convex hull, its
    minimum-area rectangle ((cx, cy), (w, h), angle in degrees) and its enclosing circle
    ((cx, cy), radius), as OpenCV gives them, and how much of the rectangle and of the circle
    the hull fills (which of the two the face is)."""
    import cv2

    hull = cv2.convexHull(xy)
    area = max(float(cv2.contourArea(hull)), 1e-12)
    rect = cv2.minAreaRect(hull)
    circle = cv2.minEnclosingCircle(hull)
    (_, (rw, rh), _), (_, rad) = rect, circle
    return hull, rect, circle, area / max(rw * rh, 1e-12), area / max(np.pi * rad * rad, 1e-12)
