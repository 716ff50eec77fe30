"""camera_info YAML, VideoCaptureCamera, pixel/depth geometry and point clouds (SimCamera depth)."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest
import yaml

from officina.interfaces import Camera, CameraIntrinsics
from officina.sim.camera import SimCamera, look_at
from officina.vision.camera_info import read_camera_info, write_camera_info
from officina.vision.cameras import VideoCaptureCamera
from officina.vision.geometry import (
    depth_to_point_cloud, pixel_to_camera, pixel_to_world, project_points, undistort_pixels,
)

ROS_SAMPLE = """image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [615.1, 0, 320.5, 0, 614.8, 240.2, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.1, -0.2, 0.001, -0.002, 0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [615.1, 0, 320.5, 0, 0, 614.8, 240.2, 0, 0, 0, 1, 0]
"""


def test_camera_info_read_and_round_trip(tmp_path):
    f = tmp_path / "cam.yaml"
    f.write_text(ROS_SAMPLE)
    intr = read_camera_info(f)
    assert (intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy) == (640, 480, 615.1, 614.8, 320.5, 240.2)
    assert intr.distortion == (0.1, -0.2, 0.001, -0.002, 0.0)
    out = write_camera_info(tmp_path / "out.yaml", intr, "lab_cam")
    doc = yaml.safe_load(out.read_text())
    assert doc["camera_name"] == "lab_cam" and doc["distortion_model"] == "plumb_bob"
    assert doc["projection_matrix"]["data"] == [615.1, 0.0, 320.5, 0.0, 0.0, 614.8, 240.2, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert read_camera_info(out) == intr


def test_camera_info_errors(tmp_path):
    with pytest.raises(ValueError, match="camera info file not found"):
        read_camera_info(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [1, 2]}\n")
    with pytest.raises(ValueError, match="camera_matrix"):
        read_camera_info(bad)
    bad.write_text(ROS_SAMPLE.replace("plumb_bob", "equidistant"))
    with pytest.raises(ValueError, match="distortion_model"):
        read_camera_info(bad)


def test_projection_and_back_projection_are_inverse_with_distortion():
    rng = np.random.default_rng(1)
    intr = CameraIntrinsics(640, 480, 600.0, 605.0, 318.0, 243.0, (-0.2, 0.05, 0.001, -0.0005, 0.0))
    pts = np.column_stack([rng.uniform(-0.3, 0.3, 50), rng.uniform(-0.2, 0.2, 50), rng.uniform(0.5, 2.0, 50)])
    uv = project_points(pts, intr)
    np.testing.assert_allclose(pixel_to_camera(uv, pts[:, 2], intr), pts, atol=1e-6)
    T = look_at([1.0, 0.5, 1.0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(pixel_to_world(uv, pts[:, 2], intr, T), pts @ T[:3, :3].T + T[:3, 3], atol=1e-6)
    with pytest.raises(ValueError, match="depth"):
        pixel_to_camera([1.0, 2.0], 0.0, intr)


def test_point_cloud_of_a_simulated_plane_lies_on_the_plane():
    cid = p.connect(p.DIRECT)
    try:
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=[1, 1, 0.01], physicsClientId=cid)
        p.createMultiBody(0, -1, vis, basePosition=[0, 0, -0.01], physicsClientId=cid)
        intr = CameraIntrinsics.from_fov(160, 120, 60.0)
        cam = SimCamera(cid, intr, look_at([0.4, -0.3, 0.6], [0, 0, 0]))
        assert isinstance(cam, Camera)
        frame = cam.capture()
        pts, colours, uv = depth_to_point_cloud(frame.depth_m, intr, world_T_camera=cam.extrinsics(), rgb=frame.rgb, stride=2)
        assert len(pts) == np.isfinite(frame.depth_m[::2, ::2]).sum() > 1000 and colours.shape == (len(pts), 3) and uv.shape == (len(pts), 2)
        assert np.max(np.abs(pts[:, 2])) < 1e-3  # every point on z = 0, to a millimetre
        # in the camera frame the same cloud has z = the depth image
        pc, _, uv = depth_to_point_cloud(frame.depth_m, intr)
        np.testing.assert_allclose(pc[:, 2], frame.depth_m[uv[:, 1].astype(int), uv[:, 0].astype(int)], rtol=1e-6)
    finally:
        p.disconnect(physicsClientId=cid)


@pytest.mark.parametrize("stride, distortion", [(1, False), (2, False), (3, True)])
def test_point_cloud_is_each_pixels_back_projection_and_a_mask_keeps_its_pixels(stride, distortion):
    """The cloud equals, to the bit, the back-projection of each measured pixel in row-major
    order (pixels gathered by an index grid, stacked, transformed in one product); with a mask,
    the points of the masked pixels are the same ones."""
    rng = np.random.default_rng(5)
    intr = CameraIntrinsics(48, 36, 40.0, 41.0, 23.5, 17.5, (0.05, -0.02, 1e-3, 5e-4, 0.0) if distortion else (0.0,) * 5)
    depth = rng.uniform(0.3, 2.5, (36, 48)).astype(np.float32)
    depth[rng.random((36, 48)) < 0.1] = np.inf
    depth[rng.random((36, 48)) < 0.05] = np.nan
    depth[rng.random((36, 48)) < 0.05] = 0.0
    rgb = rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)
    T = look_at([0.4, -0.3, 1.2], [0.1, 0.05, 0.0])
    vs, us = np.mgrid[0:36:stride, 0:48:stride]
    z = depth[vs, us].astype(float)
    ok = np.isfinite(z) & (z > 0) & (z <= 2.0)
    us, vs, z = us[ok], vs[ok], z[ok]
    uv = np.column_stack([us, vs]).astype(float)
    if distortion:
        xy = undistort_pixels(uv, intr)
    else:
        xy = np.column_stack([(us - intr.cx) / intr.fx, (vs - intr.cy) / intr.fy])
    ref = np.column_stack([xy * z[:, None], z]) @ T[:3, :3].T + T[:3, 3]
    pts, colours, uv_out = depth_to_point_cloud(depth, intr, world_T_camera=T, rgb=rgb, stride=stride, max_depth_m=2.0)
    assert pts.tobytes() == ref.tobytes() and uv_out.tobytes() == uv.tobytes()
    assert colours.tobytes() == rgb[vs, us].tobytes()
    mask = rng.random((36, 48)) < 0.3
    sub, _, uv_sub = depth_to_point_cloud(depth, intr, world_T_camera=T, stride=stride, max_depth_m=2.0, mask=mask)
    keep = mask[vs, us]
    assert 0 < keep.sum() < len(keep)
    assert sub.tobytes() == ref[keep].tobytes() and uv_sub.tobytes() == uv[keep].tobytes()
    with pytest.raises(ValueError, match="mask"):
        depth_to_point_cloud(depth, intr, mask=mask[:, :10])


def test_video_capture_camera_reads_a_video_file(tmp_path):
    import cv2

    path = str(tmp_path / "clip.avi")
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert w.isOpened()
    for k in range(3):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, :, 2] = 60 * (k + 1)  # red in BGR
        w.write(frame)
    w.release()
    intr = CameraIntrinsics.from_fov(64, 48, 60.0)
    with VideoCaptureCamera(path, intr) as cam:
        assert isinstance(cam, Camera) and cam.extrinsics() is None
        reds = []
        for _ in range(3):
            f = cam.capture()
            assert f.rgb.shape == (48, 64, 3) and f.depth_m is None
            reds.append(float(f.rgb[:, :, 0].mean()))
            assert f.rgb[:, :, 2].mean() < 10  # BGR was turned into RGB
        assert np.allclose(reds, [60, 120, 180], atol=6)
        with pytest.raises(EOFError):
            cam.capture()
    with pytest.raises(ValueError, match="delivers 64x48"):
        VideoCaptureCamera(path, CameraIntrinsics.from_fov(640, 480, 60.0))
    with pytest.raises(FileNotFoundError):
        VideoCaptureCamera(str(tmp_path / "nope.avi"), intr)
