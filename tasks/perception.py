"""Table-top object localisation for the pick tasks, from one depth frame of a calibrated camera.

Depth -> world points -> height above the table -> mask inside the pick region -> connected
components -> per object: centre, top height, footprint (minimum-area rectangle) and yaw.
Works with any `Camera` whose extrinsics are known (simulated or calibrated real camera).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from officina.interfaces import Camera

__all__ = ["TableObject", "locate_table_objects"]


@dataclass(frozen=True)
class TableObject:
    center_xy: np.ndarray  # world frame [m]
    top_z: float  # world frame [m]
    size_xy: tuple[float, float]  # footprint extents along (yaw, yaw + 90 deg) [m]
    yaw: float  # rad, footprint's first axis from world x
    n_pixels: int


def _world_points(depth: np.ndarray, K: np.ndarray, world_T_camera: np.ndarray) -> np.ndarray:
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    z = depth.astype(np.float64)
    x = (u - K[0, 2]) / K[0, 0] * z
    y = (v - K[1, 2]) / K[1, 1] * z
    pts = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    pts = pts @ world_T_camera[:3, :3].T + world_T_camera[:3, 3]
    return pts.reshape(h, w, 3)


def locate_table_objects(
    camera: Camera,
    *,
    table_z: float,
    region_x: tuple[float, float],
    region_y: tuple[float, float],
    min_height_m: float = 0.01,
    max_height_m: float = 0.2,
    min_pixels: int = 30,
    max_footprint_m: float = 0.12,
) -> list[TableObject]:
    """Objects standing on the table inside the region, sorted by distance from the region's near corner."""
    T = camera.extrinsics()
    if T is None:
        raise ValueError("locate_table_objects: the camera's extrinsics are unknown (calibrate it first)")
    frame = camera.capture()
    if frame.depth_m is None:
        raise ValueError("locate_table_objects: the camera gives no depth")
    K = camera.intrinsics.K
    depth = np.nan_to_num(frame.depth_m, nan=0.0, posinf=0.0)
    P = _world_points(depth, K, T)
    hgt = P[..., 2] - table_z
    mask = (
        (depth > 0)
        & (hgt > min_height_m)
        & (hgt < max_height_m)
        & (P[..., 0] > region_x[0]) & (P[..., 0] < region_x[1])
        & (P[..., 1] > region_y[0]) & (P[..., 1] < region_y[1])
    ).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out: list[TableObject] = []
    for lab in range(1, n):
        if stats[lab, cv2.CC_STAT_AREA] < min_pixels:
            continue
        sel = labels == lab
        pts = P[sel]
        top = float(np.percentile(pts[:, 2], 90))
        # Footprint from the top surface points (sides seen at an angle would bias it).
        top_pts = pts[pts[:, 2] > top - 0.01]
        if len(top_pts) < 5:
            top_pts = pts
        rect = cv2.minAreaRect(top_pts[:, :2].astype(np.float32))
        corners = cv2.boxPoints(rect).astype(float)
        e1, e2 = corners[1] - corners[0], corners[2] - corners[1]
        w, h = float(np.linalg.norm(e1)), float(np.linalg.norm(e2))
        if max(w, h) > max_footprint_m:
            continue  # not an object of the task (an arm link, a fixture)
        out.append(
            TableObject(
                center_xy=np.array(rect[0], dtype=float),
                top_z=top,
                size_xy=(w, h),
                yaw=float(np.arctan2(e1[1], e1[0])),
                n_pixels=int(stats[lab, cv2.CC_STAT_AREA]),
            )
        )
    out.sort(key=lambda o: (o.center_xy[1], o.center_xy[0]))
    return out
