"""Markerless box/cylinder localisation from a PyBullet RGB-D frame (SimCamera) vs ground truth."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest

from officina.interfaces import CameraIntrinsics
from officina.sim.camera import SimCamera, look_at
from officina.vision.localize import LocalizeParams, localize_objects


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
