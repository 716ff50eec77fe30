"""Hand-eye calibration: a simulated calibration run (PyBullet-rendered ChArUco board, SimCamera)
must recover the known camera mount within 2 mm and 0.2 degrees, eye-in-hand and eye-to-hand."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest

from officina.interfaces import CameraIntrinsics
from officina.sim.camera import SimCamera
from officina.sim.markers import add_textured_plane
from officina.vision.boards import board_image, board_pose, detect_board, parse_board
from officina.vision.handeye import calibrate_hand_eye, solve_ax_yb
from officina.vision.synthetic import plane_T_texture_frame, random_view
from officina.vision.transforms import invert, make_transform, rotvec_to_matrix, transform_error

STATIONS = 12  # robot poses per calibration run
BOARD = parse_board("charuco:7x5:0.04:0.03:DICT_5X5_100")
INTR = CameraIntrinsics.from_fov(640, 480, 55.0)
# the known mounts the calibration must recover
FLANGE_T_CAMERA = make_transform(rotvec_to_matrix([0.05, -0.1, 1.2]), [0.04, -0.03, 0.09])
FLANGE_T_BOARD = make_transform(rotvec_to_matrix([0.1, 0.05, -0.3]), [0.02, 0.01, 0.06])


def _quat(R):
    from officina.vision.transforms import matrix_to_quat

    return matrix_to_quat(R).tolist()


def _observe(cam: SimCamera):
    obs = detect_board(cam.capture().rgb, BOARD)
    assert obs is not None and len(obs) >= 12
    camera_T_board, err = board_pose(obs, cam.intrinsics)
    assert err < 0.5
    return camera_T_board, (obs.object_points, obs.image_points)


def _board_body(cid):
    tex, A = board_image(BOARD, px_per_square=100)
    plane_T_board, size = plane_T_texture_frame(tex.shape, A)
    return add_textured_plane(cid, tex, size, np.eye(4)), plane_T_board


def _set_pose(cid, body, world_T_body):
    p.resetBasePositionAndOrientation(body, world_T_body[:3, 3].tolist(), _quat(world_T_body[:3, :3]), physicsClientId=cid)


@pytest.fixture()
def client():
    cid = p.connect(p.DIRECT)
    yield cid
    p.disconnect(physicsClientId=cid)


def _board_centre_flipped():
    """The board's centre in the board frame turned over (x, -y, -z), whose +z faces the viewer."""
    w, h = BOARD.size_m
    return np.array([w / 2, -h / 2, 0.0])


def test_eye_in_hand_recovers_the_camera_mount(client):
    rng = np.random.default_rng(7)
    body, plane_T_board = _board_body(client)
    base_T_plane = make_transform(rotvec_to_matrix([0.0, 0.0, 0.3]), [0.55, 0.05, 0.0])
    _set_pose(client, body, base_T_plane)
    base_T_board = base_T_plane @ plane_T_board
    # the flange as a bare body the wrist camera is mounted on
    flange = p.createMultiBody(0, -1, -1, physicsClientId=client)
    cam = SimCamera(client, INTR, mount=(flange, -1, FLANGE_T_CAMERA))
    robot, seen, obs = [], [], []
    for _ in range(STATIONS):
        # a camera view of the board (its textured side faces -z of the board frame)
        board_T_camera = invert(random_view(rng, rng.uniform(0.35, 0.55), 35.0, target=_board_centre_flipped()))
        flip = make_transform(np.diag([1.0, -1.0, -1.0]), np.zeros(3))  # view from the -z side
        base_T_camera = base_T_board @ flip @ board_T_camera
        base_T_flange = base_T_camera @ invert(FLANGE_T_CAMERA)
        _set_pose(client, flange, base_T_flange)
        camera_T_board, o = _observe(cam)
        robot.append(base_T_flange)
        seen.append(camera_T_board)
        obs.append(o)
    res = calibrate_hand_eye(robot, seen, "eye-in-hand", observations=obs, intrinsics=INTR)
    dt, dr = transform_error(res.X, FLANGE_T_CAMERA)
    print(f"eye-in-hand flange_T_camera error: {dt * 1e3:.3f} mm, {np.rad2deg(dr):.4f} deg")
    assert dt < 2e-3 and np.rad2deg(dr) < 0.2, (dt, np.rad2deg(dr))
    # the board's placement comes out too; single TinyRenderer board poses are off by ~0.2 deg
    # (nearest-texel texture sampling), which the average over stations only partly removes
    dt, dr = transform_error(res.Y, base_T_board)
    assert dt < 2e-3 and np.rad2deg(dr) < 0.3
    assert res.reprojection_error_px < 0.5
    # without the reprojection refinement the closed form + pose refinement is close as well
    res2 = calibrate_hand_eye(robot, seen, "eye-in-hand")
    dt, dr = transform_error(res2.X, FLANGE_T_CAMERA)
    assert dt < 3e-3 and np.rad2deg(dr) < 0.3


def test_eye_to_hand_recovers_the_fixed_camera(client):
    rng = np.random.default_rng(11)
    body, plane_T_board = _board_body(client)
    base_T_camera = make_transform(rotvec_to_matrix([2.4, 0.0, 0.0]), [0.5, -0.45, 0.6])
    cam = SimCamera(client, INTR, base_T_camera)
    robot, seen, obs = [], [], []
    for _ in range(STATIONS):
        camera_T_board = random_view(rng, rng.uniform(0.35, 0.55), 35.0, target=_board_centre_flipped())
        flip = make_transform(np.diag([1.0, -1.0, -1.0]), np.zeros(3))
        camera_T_board = invert(flip @ invert(camera_T_board))  # board seen from its textured side
        base_T_board = base_T_camera @ camera_T_board
        base_T_flange = base_T_board @ invert(FLANGE_T_BOARD)
        _set_pose(client, body, base_T_board @ invert(plane_T_board))
        measured, o = _observe(cam)
        robot.append(base_T_flange)
        seen.append(measured)
        obs.append(o)
    res = calibrate_hand_eye(robot, seen, "eye-to-hand", observations=obs, intrinsics=INTR)
    dt, dr = transform_error(res.X, base_T_camera)
    print(f"eye-to-hand base_T_camera error: {dt * 1e3:.3f} mm, {np.rad2deg(dr):.4f} deg")
    assert dt < 2e-3 and np.rad2deg(dr) < 0.2, (dt, np.rad2deg(dr))
    dt, dr = transform_error(res.Y, FLANGE_T_BOARD)
    assert dt < 2e-3 and np.rad2deg(dr) < 0.3
    assert res.to_json()["base_T_camera"]["position"] == pytest.approx(res.X[:3, 3].tolist())


def test_closed_form_is_exact_on_exact_data():
    rng = np.random.default_rng(3)
    X = make_transform(rotvec_to_matrix([0.3, -0.2, 0.1]), [0.05, 0.0, 0.1])
    Y = make_transform(rotvec_to_matrix([3.0, 0.1, 0.0]), [0.6, 0.1, 0.0])
    As = [make_transform(rotvec_to_matrix(rng.normal(0, 0.5, 3)), rng.normal(0, 0.3, 3)) for _ in range(6)]
    Cs = [invert(Y) @ A @ X for A in As]
    Xe, Ye = solve_ax_yb(As, Cs)
    np.testing.assert_allclose(Xe, X, atol=1e-9)
    np.testing.assert_allclose(Ye, Y, atol=1e-9)


def test_bad_input():
    I = np.eye(4)
    with pytest.raises(ValueError, match="mode"):
        calibrate_hand_eye([I] * 3, [I] * 3, "eye-on-base")
    with pytest.raises(ValueError, match="at least 3"):
        calibrate_hand_eye([I] * 2, [I] * 2)
    with pytest.raises(ValueError, match="barely rotate"):
        calibrate_hand_eye([make_transform(np.eye(3), [k, 0, 0]) for k in range(4)], [I] * 4)


def test_pose_file_forms(tmp_path):
    """A calibration session's poses file: position + quaternion, a 4x4 matrix, with or without
    the top-level `poses` key; read in file order with the image names."""
    import yaml

    from officina.vision.handeye import read_pose_file
    from officina.vision.transforms import pose_to_transform

    T1 = pose_to_transform([0.45, 0.02, 0.51], [1.0, 0.0, 0.0, 0.0])
    T2 = make_transform(rotvec_to_matrix([0.1, -0.2, 0.3]), [0.4, -0.1, 0.6])
    entries = [{"image": "a.png", "position": [0.45, 0.02, 0.51], "quaternion_xyzw": [1, 0, 0, 0]},
               {"image": "b.png", "matrix": T2.tolist()}]
    f = tmp_path / "poses.yaml"
    for doc in ({"poses": entries}, entries):
        f.write_text(yaml.safe_dump(doc))
        got = read_pose_file(f)
        assert [name for name, _ in got] == ["a.png", "b.png"]
        np.testing.assert_allclose(got[0][1], T1, atol=1e-12)
        np.testing.assert_allclose(got[1][1], T2, atol=1e-12)


@pytest.mark.parametrize("doc, message", [
    ({"poses": []}, "expected a list under 'poses'"),
    ({"poses": [{"position": [0, 0, 0], "quaternion_xyzw": [0, 0, 0, 1]}]}, "entry 0 needs 'image'"),
    ({"poses": [{"image": "a.png", "position": [0, 0, 0]}]}, r"entry 0 needs position \+ quaternion_xyzw"),
    ({"poses": [{"image": "a.png", "position": [0, 0], "quaternion_xyzw": [0, 0, 0, 1]}]}, "entry 0: expected 3"),
    ({"poses": [{"image": "a.png", "position": ["x", 0, 0], "quaternion_xyzw": [0, 0, 0, 1]}]}, "entry 0"),
    ({"poses": [{"image": "a.png", "matrix": [[1, 0], [0, 1]]}]}, "entry 0 matrix"),
])
def test_pose_file_errors_name_the_entry(tmp_path, doc, message):
    import yaml

    from officina.vision.handeye import read_pose_file

    f = tmp_path / "poses.yaml"
    f.write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match=message) as exc:
        read_pose_file(f)
    assert "\n" not in str(exc.value) and str(f) in str(exc.value)


def test_hand_eye_from_files_skips_images_without_the_board(tmp_path):
    """Fewer than 3 images with the board: no result, and which images were skipped."""
    import cv2
    import yaml

    from officina.vision.handeye import hand_eye_from_files, write_hand_eye

    (tmp_path / "shots").mkdir()
    blank = np.full((INTR.height, INTR.width, 3), 200, np.uint8)
    for k in range(4):
        cv2.imwrite(str(tmp_path / "shots" / f"{k}.png"), blank)
    entries = [{"image": f"{k}.png", "position": [0.4, 0.0, 0.5], "quaternion_xyzw": [1, 0, 0, 0]} for k in range(4)]
    (tmp_path / "poses.yaml").write_text(yaml.safe_dump({"poses": entries}))
    s = hand_eye_from_files(tmp_path / "poses.yaml", tmp_path / "shots", BOARD, INTR, "eye-in-hand")
    assert s.result is None and (s.found, s.total) == (0, 4) and s.skipped == ("0.png", "1.png", "2.png", "3.png")
    with pytest.raises(ValueError, match="found in 0 of 4"):
        write_hand_eye(tmp_path / "out.yaml", s)
    assert not (tmp_path / "out.yaml").exists()
    with pytest.raises(ValueError, match="mode"):
        hand_eye_from_files(tmp_path / "poses.yaml", tmp_path / "shots", BOARD, INTR, "eye-on-base")
    small = CameraIntrinsics.from_fov(320, 240, 55.0)
    with pytest.raises(ValueError, match="0.png is 640x480; the camera info is for 320x240"):
        hand_eye_from_files(tmp_path / "poses.yaml", tmp_path / "shots", BOARD, small, "eye-in-hand")


def test_rotations_about_one_axis_only_are_refused():
    """Turning only about one axis (e.g. the last joint) leaves the offset along that axis
    unobservable: the solution fits the data (residuals ~0) and is wrong by 10 cm here."""
    rng = np.random.default_rng(3)
    X = make_transform(rotvec_to_matrix([0.3, -0.2, 0.1]), [0.05, 0.0, 0.1])
    Y = make_transform(rotvec_to_matrix([3.0, 0.1, 0.0]), [0.6, 0.1, 0.0])
    As = [make_transform(rotvec_to_matrix([0.0, 0.0, a]), rng.normal(0, 0.3, 3)) for a in np.linspace(-1, 1, 6)]
    camera_T_board = [invert(invert(Y) @ A @ X) for A in As]
    with pytest.raises(ValueError, match="one axis"):
        calibrate_hand_eye(As, camera_T_board)
    # one more station tilted about another axis makes it observable again
    As.append(make_transform(rotvec_to_matrix([0.4, 0.0, 0.2]), [0.1, 0.2, 0.3]))
    camera_T_board.append(invert(invert(Y) @ As[-1] @ X))
    dt, dr = transform_error(calibrate_hand_eye(As, camera_T_board).X, X)
    assert dt < 1e-6 and dr < 1e-6
