"""Marker detection and pose against exact ground truth (synthetic homography renders, seeded)."""

from __future__ import annotations

import numpy as np
import pytest

from officina.interfaces import CameraIntrinsics
from officina.vision.boards import board_image, board_pose, detect_board, parse_board
from officina.vision.markers import MarkerParams, detect_markers, dictionary_id, dictionary_names
from officina.vision.synthetic import marker_texture, random_view, render_plane
from officina.vision.transforms import transform_error

INTR = CameraIntrinsics.from_fov(640, 480, 60.0)


@pytest.mark.parametrize("name", dictionary_names())
def test_every_predefined_dictionary_detects_with_pose(name):
    rng = np.random.default_rng(5)
    tex, A = marker_texture(name, 3, 0.08)
    camera_T_marker = random_view(rng, 0.5, 40.0)
    img = render_plane(tex, A, camera_T_marker, INTR, noise_std=1.0, rng=rng)
    det = detect_markers(img, INTR, MarkerParams(name, 0.08))
    assert [d.id for d in det] == [3]
    dt, dr = transform_error(det[0].camera_T_marker, camera_T_marker)
    assert dt < 2e-3 and np.rad2deg(dr) < 1.5
    assert 0 <= det[0].reprojection_error_px < 0.5


def test_apriltag_36h11_is_there():
    assert "DICT_APRILTAG_36H11" in dictionary_names()
    assert dictionary_id("tag36h11") == dictionary_id("DICT_APRILTAG_36h11") == dictionary_id("apriltag_36h11")


def test_pose_accuracy_at_half_a_metre_up_to_60_degrees():
    rng = np.random.default_rng(0)
    tex, A = marker_texture("DICT_4X4_50", 7, 0.05)
    errs = []
    for _ in range(20):
        T = random_view(rng, 0.5, 60.0)
        img = render_plane(tex, A, T, INTR, noise_std=1.0, rng=rng)
        det = detect_markers(img, INTR, MarkerParams("DICT_4X4_50", 0.05))
        assert len(det) == 1
        errs.append(transform_error(det[0].camera_T_marker, T))
    e = np.array(errs)
    assert np.median(e[:, 0]) < 2e-3 and np.rad2deg(np.median(e[:, 1])) < 1.0


def test_pose_conventions_and_json():
    # a marker 0.4 m ahead, upright and facing the camera: marker x = camera x, marker y (up) =
    # camera -y, marker z (towards the viewer) = camera -z; turned 25 degrees about its y axis
    # (a fronto-parallel square's tilt is ill-determined: IPPE's two solutions nearly coincide)
    from officina.vision.transforms import matrix_to_quat, rotvec_to_matrix

    T = np.diag([1.0, -1.0, -1.0, 1.0])
    T[:3, :3] = T[:3, :3] @ rotvec_to_matrix([0.0, np.deg2rad(25.0), 0.0])
    T[:3, 3] = [0.02, -0.01, 0.4]
    tex, A = marker_texture("DICT_5X5_100", 12, 0.06)
    img = render_plane(tex, A, T, INTR)
    (m,) = detect_markers(np.dstack([img] * 3), INTR, MarkerParams("5x5_100", 0.06))
    rec = m.to_json()
    assert set(rec) == {"id", "position", "quaternion_xyzw", "reprojection_error_px"}
    assert rec["id"] == 12
    np.testing.assert_allclose(rec["position"], [0.02, -0.01, 0.4], atol=2e-3)
    q = matrix_to_quat(T[:3, :3])
    assert abs(abs(float(np.dot(rec["quaternion_xyzw"], q))) - 1.0) < 1e-3  # same rotation, either sign
    # corners in OpenCV order: top-left, top-right, bottom-right, bottom-left of the printed marker
    c = m.corners_px
    assert c[0, 0] < c[1, 0] and c[1, 1] < c[2, 1] and c[3, 0] < c[2, 0]


def test_several_markers_sorted_and_none():
    rng = np.random.default_rng(2)
    bg = np.full((480, 640), 128, np.uint8)
    for k, x in ((9, -0.08), (4, 0.08)):
        tex, A = marker_texture("DICT_4X4_50", k, 0.05)
        T = np.diag([1.0, -1.0, -1.0, 1.0])
        T[:3, 3] = [x, 0.0, 0.5]
        bg = render_plane(tex, A, T, INTR, background=bg)
    det = detect_markers(bg, INTR, MarkerParams("DICT_4X4_50", 0.05))
    assert [d.id for d in det] == [4, 9]
    assert detect_markers(rng.integers(0, 255, (480, 640), dtype=np.uint8), INTR, MarkerParams("DICT_4X4_50", 0.05)) == []
    # detection only, without pose
    (d0, _) = detect_markers(bg, None, MarkerParams("DICT_4X4_50"))
    assert d0.camera_T_marker is None and d0.to_json() == {"id": 4}


def test_bad_params():
    with pytest.raises(ValueError, match="unknown marker dictionary 'DICT_9X9_1'; expected one of"):
        MarkerParams("DICT_9X9_1", 0.05)
    with pytest.raises(ValueError, match="marker_length_m"):
        MarkerParams("DICT_4X4_50", -1.0)
    with pytest.raises(ValueError, match="corner_refinement"):
        MarkerParams("DICT_4X4_50", 0.05, "magic")
    with pytest.raises(ValueError, match="intrinsics are for"):
        detect_markers(np.zeros((10, 10), np.uint8), INTR, MarkerParams())


@pytest.mark.parametrize("spec", ["charuco:7x5:0.04:0.03:DICT_5X5_100", "charuco:6x6:0.03:0.022:DICT_4X4_50", "chessboard:9x6:0.03"])
def test_board_pose(spec):
    board = parse_board(spec)
    tex, A = board_image(board, px_per_square=60)
    rng = np.random.default_rng(4)
    w, h = board.size_m
    centre = [w / 2 - (board.square_m if board.kind == "chessboard" else 0), h / 2 - (board.square_m if board.kind == "chessboard" else 0), 0]
    # the board frame's z points into the board: view it from -z (flip the frame about x)
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    T = random_view(rng, 0.6, 30.0, target=[centre[0], -centre[1], 0.0], max_roll_deg=20.0) @ flip
    img = render_plane(tex, A, T, INTR, noise_std=1.0, rng=rng)
    obs = detect_board(img, board)
    assert obs is not None and len(obs) >= 12
    camera_T_board, err = board_pose(obs, INTR)
    dt, dr = transform_error(camera_T_board, T)
    assert dt < 2e-3 and np.rad2deg(dr) < 0.5 and err < 0.3


@pytest.mark.parametrize(
    "bad",
    ["chessboard:9x6", "charuco:7x5:0.04:0.05:DICT_5X5_100", "grid:3x3:0.1", "chessboard:axb:0.1", "charuco:7x5:0.04:0.03:DICT_NOPE"],
)
def test_bad_board_specs(bad):
    with pytest.raises(ValueError, match="board|dictionary"):
        parse_board(bad)


def test_board_spec_round_trip():
    for s in ("chessboard:9x6:0.025", "charuco:7x5:0.04:0.03:DICT_5X5_100", "charuco:8x6:0.03:0.02:DICT_4X4_50:legacy"):
        assert str(parse_board(s)) == s


def test_marker_reprojection_error_is_the_rms_corner_distance_as_for_boards():
    # one corner 0.5 px off its projection: the error is the RMS over the corners of the pixel
    # distance between each corner and its reprojection (what board_pose and calibration report)
    import cv2

    from officina.vision.geometry import project_points
    from officina.vision.markers import marker_object_points, square_pose

    T = np.eye(4)
    T[:3, 3] = [0.02, -0.01, 0.5]
    obj = marker_object_points(0.05)
    uv = project_points(obj @ T[:3, :3].T + T[:3, 3], INTR) + np.array([[0.5, 0.0], [0, 0], [0, 0], [0, 0]])
    T_est, err = square_pose(uv, 0.05, INTR)
    rvec = cv2.Rodrigues(T_est[:3, :3])[0]
    proj, _ = cv2.projectPoints(obj, rvec, T_est[:3, 3], INTR.K, np.zeros(5))
    expected = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - uv) ** 2, axis=1))))
    assert err == pytest.approx(expected, rel=1e-6)
