"""Parts jumbled in a bin, localised from one PyBullet RGB-D frame (vision.parts) vs ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from officina.interfaces import CameraIntrinsics
from officina.sim.camera import SimCamera, look_at
from officina.sim.world import SimWorld
from officina.vision.parts import PartsParams, localize_parts, top_frame, top_frame_error, top_size, top_size_error
from officina.vision.transforms import matrix_to_quat, pose_to_transform


def _rot(axis, angle):
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


# (kind, size (box: x, y, z; cylinder: radius, height), centre, rotation, colour, expected top)
PARTS = [
    ("box", (0.06, 0.04, 0.03), (0.42, -0.06, 0.015), _rot([0, 0, 1], 0.4), (0.85, 0.25, 0.2, 1), "face"),
    # tilted 20 deg about its long axis, one edge on the floor
    ("box", (0.07, 0.045, 0.025), (0.56, -0.07, 0.025), _rot([1, 0, 0], np.deg2rad(20)), (0.2, 0.6, 0.3, 1), "face"),
    ("cylinder", (0.022, 0.045), (0.45, 0.07, 0.0225), np.eye(3), (0.2, 0.4, 0.85, 1), "cap"),
    # lying on its side, its axis at 30 deg to x
    ("cylinder", (0.018, 0.065), (0.57, 0.06, 0.018), _rot([0, 0, 1], np.deg2rad(30)) @ _rot([0, 1, 0], np.pi / 2),
     (0.9, 0.7, 0.1, 1), "side"),
    # two boxes of one height touching side by side, told apart by colour
    ("box", (0.05, 0.035, 0.03), (0.50, 0.0, 0.015), np.eye(3), (0.6, 0.3, 0.7, 1), "face"),
    ("box", (0.05, 0.035, 0.03), (0.50, 0.0352, 0.015), np.eye(3), (0.1, 0.7, 0.7, 1), "face"),
]


@pytest.fixture(scope="module")
def heap():
    w = SimWorld()
    w.add_table(top_center_xyz=(0.5, 0.0, 0.0), size_xy=(0.6, 0.5))
    truth = []
    for kind, size, c, R, col, top in PARTS:
        q = tuple(matrix_to_quat(R))
        if kind == "box":
            w.add_box(size, 0.1, c, q, color=col)
        else:
            w.add_cylinder(size[0], size[1], 0.1, c, q, color=col)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, c
        truth.append((kind, top, top_frame(kind, size, T)[1]))
    intr = CameraIntrinsics.from_fov(640, 480, 40.0)
    cam = SimCamera(w.client_id, intr, look_at((0.5, 0.0, 0.7), (0.5, 0.0, 0.0), up=(-1.0, 0.0, 0.0)),
                    near=0.05, far=3.0)
    res = localize_parts(cam.capture(), cam.intrinsics, cam.extrinsics(),
                         PartsParams(floor_height_m=0.0, roi_xy=(0.33, 0.67, -0.15, 0.15)))
    yield res, truth
    w.close()


def test_every_top_is_found_with_its_kind_pose_and_extent(heap):
    res, truth = heap
    assert len(res.parts) == len(truth)
    for kind, top, T_true in truth:
        est = min(res.parts, key=lambda q: np.linalg.norm(q.position - T_true[:3, 3]))
        assert (est.kind, est.top) == (kind, top)
        d, a = top_frame_error(est.world_T_top, T_true, top)
        assert d < 3e-3 and np.degrees(a) < 3.0, (kind, top, d, np.degrees(a))
    by_top = {q.top: q for q in res.parts}
    assert by_top["cap"].radius_m == pytest.approx(0.022, abs=2e-3)
    assert by_top["side"].radius_m == pytest.approx(0.018, abs=2e-3)
    assert by_top["side"].size_m[0] == pytest.approx(0.065, abs=4e-3)
    tilted = min(res.parts, key=lambda q: np.linalg.norm(q.position[:2] - (0.56, -0.07)))
    assert np.degrees(tilted.tilt_rad) == pytest.approx(20.0, abs=2.0)
    assert sorted(tilted.size_m, reverse=True) == pytest.approx([0.07, 0.045], abs=4e-3)
    # highest first
    z = [q.position[2] for q in res.parts]
    assert z == sorted(z, reverse=True)


def test_top_frame_error_respects_the_tops_symmetry():
    T = pose_to_transform((0.1, 0.2, 0.3), tuple(matrix_to_quat(_rot([0, 0, 1], 0.3))))
    flipped = T.copy()
    flipped[:3, :3] = T[:3, :3] @ np.diag([-1.0, -1.0, 1.0])
    assert top_frame_error(flipped, T, "face") == pytest.approx((0.0, 0.0), abs=1e-7)
    turned = T.copy()
    turned[:3, :3] = T[:3, :3] @ _rot([0, 0, 1], 1.0)
    assert top_frame_error(turned, T, "cap")[1] == pytest.approx(0.0, abs=1e-7)
    assert top_frame_error(turned, T, "face")[1] == pytest.approx(1.0, abs=1e-6)


def test_a_top_seen_a_quarter_turn_off_is_an_extent_error_not_an_orientation_error():
    # a 62 x 45 mm face lying flat, its long side along world y; half of it hidden, what shows is
    # 45 x 31 mm, so the localised frame calls world x (45 mm) the longer side: a quarter turn off
    T_part = pose_to_transform((0.5, 0.0, 0.02), tuple(matrix_to_quat(_rot([0, 0, 1], np.pi / 2))))
    size = (0.062, 0.045, 0.03)
    top, T_true = top_frame("box", size, T_part)
    assert top == "face" and top_size("box", size, T_part) == pytest.approx((0.062, 0.045))
    T_est = T_true.copy()
    T_est[:3, :3] = T_true[:3, :3] @ _rot([0, 0, 1], np.pi / 2 + np.deg2rad(0.5))
    assert np.degrees(top_frame_error(T_est, T_true, "face")[1]) == pytest.approx(89.5, abs=1e-4)
    assert np.degrees(top_frame_error(T_est, T_true, "face", quarter_turns=True)[1]) == pytest.approx(0.5, abs=1e-4)
    # the localised extents along its own axes: 45 mm (right) and 31 mm where 62 mm lie
    assert top_size_error(T_est, (0.045, 0.031), T_true, (0.062, 0.045)) == pytest.approx(0.031, abs=1e-3)
    assert top_size_error(T_true, (0.062, 0.045), T_true, (0.062, 0.045)) == pytest.approx(0.0, abs=1e-9)
    # a cap and a lying cylinder's side: diameter twice; length and diameter
    assert top_size("cylinder", (0.02, 0.05), np.eye(4)) == pytest.approx((0.04, 0.04))
    lying = pose_to_transform((0, 0, 0), tuple(matrix_to_quat(_rot([1, 0, 0], np.pi / 2))))
    assert top_size("cylinder", (0.02, 0.05), lying) == pytest.approx((0.05, 0.04))


def test_bad_parameters_and_frames_are_refused():
    with pytest.raises(ValueError, match="roi_xy"):
        PartsParams(floor_height_m=0.0, roi_xy=(0.5, 0.4, -0.1, 0.1))
    with pytest.raises(ValueError, match="positive"):
        PartsParams(floor_height_m=0.0, roi_xy=(0.4, 0.5, -0.1, 0.1), crease_deg=0.0)
