"""Markerless box/cylinder localisation from a PyBullet RGB-D frame (SimCamera) vs ground truth."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest

from officina.interfaces import CameraIntrinsics
from officina.sim.camera import SimCamera, look_at
from officina.vision.geometry import depth_to_point_cloud
from officina.vision.localize import (
    LocalizeParams, _object_on_table, _percentile, estimate_table_height, localize_objects,
)


@pytest.fixture()
def scene():
    cid = p.connect(p.DIRECT)
    table_top = 0.40
    tv = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.6, 0.5, 0.02], rgbaColor=[0.6, 0.5, 0.4, 1], physicsClientId=cid)
    p.createMultiBody(0, -1, tv, basePosition=[0.5, 0.0, table_top - 0.02], physicsClientId=cid)
    box_half = [0.04, 0.025, 0.03]
    box_yaw = 0.5
    bv = p.createVisualShape(p.GEOM_BOX, halfExtents=box_half, rgbaColor=[0.8, 0.1, 0.1, 1], physicsClientId=cid)
    p.createMultiBody(0, -1, bv, basePosition=[0.45, -0.12, table_top + box_half[2]],
                      baseOrientation=p.getQuaternionFromEuler([0, 0, box_yaw]), physicsClientId=cid)
    cyl_r, cyl_h = 0.03, 0.08
    cv = p.createVisualShape(p.GEOM_CYLINDER, radius=cyl_r, length=cyl_h, rgbaColor=[0.1, 0.3, 0.8, 1], physicsClientId=cid)
    p.createMultiBody(0, -1, cv, basePosition=[0.55, 0.1, table_top + cyl_h / 2], physicsClientId=cid)
    intr = CameraIntrinsics.from_fov(640, 480, 50.0)
    world_T_camera = look_at([0.2, 0.0, 1.05], [0.5, 0.0, table_top])
    cam = SimCamera(cid, intr, world_T_camera, near=0.05, far=3.0)
    yield cam, table_top
    p.disconnect(physicsClientId=cid)


def test_boxes_and_cylinders_are_found_with_position_and_yaw(scene):
    cam, table_top = scene
    objs = localize_objects(cam.capture(), cam.intrinsics, cam.extrinsics())
    assert [o.kind for o in objs] == ["box", "cylinder"]
    box, cyl = objs
    np.testing.assert_allclose(box.position, [0.45, -0.12, table_top + 0.03], atol=4e-3)
    assert abs(box.yaw_rad - 0.5) < np.deg2rad(2.0)
    np.testing.assert_allclose(box.size_m, [0.08, 0.05, 0.06], atol=5e-3)
    np.testing.assert_allclose(cyl.position, [0.55, 0.1, table_top + 0.04], atol=4e-3)
    np.testing.assert_allclose(cyl.size_m, [0.06, 0.06, 0.08], atol=5e-3)
    assert set(box.to_json()) == {"kind", "position", "yaw_rad", "size_m", "pixels"}


def test_known_table_height_and_workspace_bounds(scene):
    cam, table_top = scene
    frame = cam.capture()
    objs = localize_objects(frame, cam.intrinsics, cam.extrinsics(), LocalizeParams(table_height_m=table_top, xy_bounds=(0.3, 0.5, -0.3, 0.0)))
    assert [o.kind for o in objs] == ["box"]


def test_needs_depth_and_extrinsics(scene):
    cam, _ = scene
    frame = cam.capture()
    from officina.interfaces import CameraFrame

    with pytest.raises(ValueError, match="depth"):
        localize_objects(CameraFrame(0.0, frame.rgb), cam.intrinsics, cam.extrinsics())
    with pytest.raises(ValueError, match="extrinsics"):
        localize_objects(frame, cam.intrinsics, None)


def _reference_objects(frame, intr, world_T_camera, params):
    """The pipeline over whole images: every pixel's point in an HxWx3 image, the height image,
    each component's points picked from the image by its label, its top by np.percentile."""
    import cv2

    H, W = intr.height, intr.width
    pts, _, uv = depth_to_point_cloud(frame.depth_m, intr, world_T_camera=world_T_camera, max_depth_m=params.max_depth_m)
    table = params.table_height_m if params.table_height_m is not None else estimate_table_height(pts[:, 2])
    ui, vi = uv[:, 0].astype(int), uv[:, 1].astype(int)
    xyz = np.full((H, W, 3), np.nan)
    xyz[vi, ui] = pts
    height = np.full((H, W), -np.inf)
    height[vi, ui] = pts[:, 2] - table
    mask = height > params.min_height_m
    if params.xy_bounds is not None:
        x0, x1, y0, y1 = params.xy_bounds
        mask &= (xyz[..., 0] >= x0) & (xyz[..., 0] <= x1) & (xyz[..., 1] >= y0) & (xyz[..., 1] <= y1)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for k in range(1, n):
        sel = labels == k
        if sel.sum() < params.min_pixels:
            continue
        P = xyz[sel]
        top = float(np.percentile(P[:, 2] - table, 98))
        if top > params.min_height_m:
            pitch = float(abs(world_T_camera[2, 3] - (table + top)) / intr.fx)
            out.append(_object_on_table(P, table, top, pitch, int(sel.sum()), (float(cents[k][0]), float(cents[k][1]))))
    out.sort(key=lambda o: (round(float(o.position[0]), 4), round(float(o.position[1]), 4)))
    return out


@pytest.mark.parametrize("table_known, bounds, distortion", [
    (True, (0.3, 0.7, -0.3, 0.3), False), (True, (0.3, 0.5, -0.3, 0.0), False), (True, None, False),
    (False, None, False), (True, None, True),
])
def test_objects_are_those_of_the_whole_image_pipeline_to_the_bit(scene, table_known, bounds, distortion):
    """localize_objects back-projects only the pixels that may stand above a known table, labels
    points rather than images and takes the percentile by a partial sort: its objects are
    exactly those of the plain whole-image computation."""
    cam, table_top = scene
    frame = cam.capture()
    intr = cam.intrinsics
    if distortion:  # the same depth image read through a lens with distortion
        intr = CameraIntrinsics(intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy, (0.05, -0.02, 1e-3, 5e-4, 0.0))
    params = LocalizeParams(table_height_m=table_top if table_known else None, xy_bounds=bounds)
    objs = localize_objects(frame, intr, cam.extrinsics(), params)
    ref = _reference_objects(frame, intr, cam.extrinsics(), params)
    assert len(objs) >= 1
    assert [(o.kind, o.position.tolist(), o.yaw_rad, o.size_m, o.pixels, o.centroid_px) for o in objs] == \
        [(o.kind, o.position.tolist(), o.yaw_rad, o.size_m, o.pixels, o.centroid_px) for o in ref]


def test_percentile_by_partition_is_numpys():
    rng = np.random.default_rng(3)
    for n in [1, 2, 3, 5, 50, 51, 997]:
        for values in (rng.uniform(0.01, 0.2, n), np.round(rng.uniform(0.01, 0.02, n), 3)):  # with ties too
            for q in (0.0, 2.0, 37.5, 50.0, 98.0, 100.0):
                assert _percentile(values, q) == np.percentile(values, q), (n, q)
