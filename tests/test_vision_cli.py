"""`officina vision detect|calibrate|handeye` in-process (CliRunner): outputs and error cases."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from officina import cli
from officina.interfaces import CameraIntrinsics
from officina.vision.synthetic import marker_texture, render_plane

cli.register_subcommands()
runner = CliRunner()
INTR = CameraIntrinsics.from_fov(640, 480, 60.0)
FXY = ["--fx", str(INTR.fx), "--fy", str(INTR.fy), "--cx", str(INTR.cx), "--cy", str(INTR.cy)]


def _marker_png(path, marker_id=7, z=0.5):
    tex, A = marker_texture("DICT_4X4_50", marker_id, 0.05)
    T = np.diag([1.0, -1.0, -1.0, 1.0])
    T[:3, :3] = T[:3, :3] @ cv2.Rodrigues(np.array([0.0, 0.4, 0.0]))[0]
    T[:3, 3] = [0.03, 0.01, z]
    cv2.imwrite(str(path), render_plane(tex, A, T, INTR))
    return T


def test_detect_json(tmp_path):
    img = tmp_path / "m.png"
    T = _marker_png(img)
    r = runner.invoke(cli.app, ["vision", "detect", str(img), "--dict", "DICT_4X4_50", "--marker-length-m", "0.05", *FXY, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert len(out) == 1 and set(out[0]) == {"id", "position", "quaternion_xyzw", "reprojection_error_px"}
    assert out[0]["id"] == 7
    np.testing.assert_allclose(out[0]["position"], T[:3, 3], atol=3e-3)
    # table output and --camera-info give the same
    from officina.vision.camera_info import write_camera_info

    info = write_camera_info(tmp_path / "cam.yaml", INTR)
    r2 = runner.invoke(cli.app, ["vision", "detect", str(img), "--marker-length-m", "0.05", "--camera-info", str(info)])
    assert r2.exit_code == 0 and f"{out[0]['position'][2]:.4f}" in r2.stdout


def test_detect_no_markers_is_an_empty_list(tmp_path):
    img = tmp_path / "blank.png"
    cv2.imwrite(str(img), np.full((480, 640), 128, np.uint8))
    r = runner.invoke(cli.app, ["vision", "detect", str(img), "--marker-length-m", "0.05", *FXY, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dict", "DICT_4X4_50"], "cannot read image"),
        (["--dict", "DICT_NOPE"], "unknown marker dictionary"),
        (["--refine", "foo"], "--refine 'foo'; expected one of none, subpix, contour, apriltag"),
    ],
)
def test_detect_bad_input_exits_2(tmp_path, args, message):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    r = runner.invoke(cli.app, ["vision", "detect", str(bad), *args, "--marker-length-m", "0.05", *FXY])
    assert r.exit_code == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_detect_missing_file_and_intrinsics_exit_2(tmp_path):
    r = runner.invoke(cli.app, ["vision", "detect", str(tmp_path / "none.png"), "--marker-length-m", "0.05", *FXY])
    assert r.exit_code == 2 and "not found" in r.stderr
    img = tmp_path / "m.png"
    _marker_png(img)
    r = runner.invoke(cli.app, ["vision", "detect", str(img), "--marker-length-m", "0.05"])
    assert r.exit_code == 2 and "intrinsics" in r.stderr


def test_calibrate_writes_camera_info(tmp_path):
    from test_vision_calibration import write_board_images

    write_board_images(tmp_path / "imgs", "charuco:7x5:0.04:0.03:DICT_5X5_100", 12, seed=1, intr=INTR)
    out = tmp_path / "camera.yaml"
    r = runner.invoke(cli.app, ["vision", "calibrate", str(tmp_path / "imgs"), "--board", "charuco:7x5:0.04:0.03:DICT_5X5_100", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert abs(res["fx"] / INTR.fx - 1) < 0.01 and res["rms_reprojection_error_px"] < 0.5
    assert len(res["per_image"]) == 12
    doc = yaml.safe_load(out.read_text())
    assert doc["image_width"] == 640 and doc["camera_matrix"]["data"][0] == pytest.approx(res["fx"])
    r = runner.invoke(cli.app, ["vision", "calibrate", str(tmp_path / "imgs"), "--board", "chessboard:9x6", "--out", str(out)])
    assert r.exit_code == 2 and "board" in r.stderr


def test_handeye_cli_eye_in_hand(tmp_path):
    """Board images rendered for known flange poses; the CLI must recover flange_T_camera."""
    from officina.vision.boards import board_image, parse_board
    from officina.vision.camera_info import write_camera_info
    from officina.vision.synthetic import random_view
    from officina.vision.transforms import invert, make_transform, rotvec_to_matrix, transform_error, transform_to_pose

    board = parse_board("charuco:7x5:0.04:0.03:DICT_5X5_100")
    tex, A = board_image(board, px_per_square=50)
    flange_T_camera = make_transform(rotvec_to_matrix([0.0, 0.1, 1.5]), [0.03, 0.0, 0.08])
    base_T_board = make_transform(rotvec_to_matrix([np.pi, 0.0, 0.2]), [0.5, 0.1, 0.0])
    rng = np.random.default_rng(5)
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    w, h = board.size_m
    entries = []
    (tmp_path / "shots").mkdir()
    for k in range(10):
        camera_T_board = random_view(rng, rng.uniform(0.4, 0.55), 35.0, target=[w / 2, -h / 2, 0.0], max_roll_deg=30.0) @ flip
        base_T_flange = base_T_board @ invert(camera_T_board) @ invert(flange_T_camera)
        cv2.imwrite(str(tmp_path / "shots" / f"{k}.png"), render_plane(tex, A, camera_T_board, INTR, noise_std=1.0, rng=rng))
        pos, q = transform_to_pose(base_T_flange)
        entries.append({"image": f"{k}.png", "position": pos.tolist(), "quaternion_xyzw": q.tolist()})
    (tmp_path / "poses.yaml").write_text(yaml.safe_dump({"poses": entries}))
    info = write_camera_info(tmp_path / "cam.yaml", INTR)
    out = tmp_path / "handeye.yaml"
    args = ["vision", "handeye", "--poses", str(tmp_path / "poses.yaml"), "--images", str(tmp_path / "shots"),
            "--board", str(board), "--mode", "eye-in-hand", "--camera-info", str(info), "--out", str(out)]
    r = runner.invoke(cli.app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    from officina.vision.transforms import pose_to_transform

    X = pose_to_transform(res["flange_T_camera"]["position"], res["flange_T_camera"]["quaternion_xyzw"])
    dt, dr = transform_error(X, flange_T_camera)
    assert dt < 2e-3 and np.rad2deg(dr) < 0.2
    assert yaml.safe_load(out.read_text())["mode"] == "eye-in-hand"
    bad = [a if a != "eye-in-hand" else "eye-on-base" for a in args]
    r = runner.invoke(cli.app, bad)
    assert r.exit_code == 2 and "--mode" in r.stderr


@pytest.mark.parametrize("cmd", ["calibrate", "handeye"])
def test_out_that_is_a_folder_or_under_a_file_is_one_line(tmp_path, cmd):
    """Checked before any image is read: one line, exit 2, no traceback."""
    f = tmp_path / "notes.txt"
    f.write_text("x")
    board = ["--board", "charuco:7x5:0.04:0.03:DICT_5X5_100"]
    args = {"calibrate": ["vision", "calibrate", str(tmp_path), *board],
            "handeye": ["vision", "handeye", "--poses", str(f), "--images", str(tmp_path), *board,
                        "--mode", "eye-in-hand", "--camera-info", str(f)]}[cmd]
    name = {"calibrate": "camera.yaml", "handeye": "handeye.yaml"}[cmd]
    for out, message in ((tmp_path, f"--out {tmp_path}: a folder; expected the file to write, e.g. {tmp_path / name}"),
                         (f / "out.yaml", f"--out {f / 'out.yaml'}: {f} is a file, not a folder")):
        r = runner.invoke(cli.app, [*args, "--out", str(out)])
        assert r.exit_code == 2, r.output
        assert r.stderr.strip().splitlines() == [f"officina: error: {message}"]


@pytest.mark.parametrize("cmd", ["calibrate", "handeye"])
def test_a_board_in_fewer_than_3_images_is_bad_input_for_both_commands(tmp_path, cmd):
    """Four images without the board: calibrate and handeye alike exit 2 with one line, write nothing."""
    from officina.vision.camera_info import write_camera_info

    (tmp_path / "shots").mkdir()
    for k in range(4):
        cv2.imwrite(str(tmp_path / "shots" / f"{k}.png"), np.full((INTR.height, INTR.width), 200, np.uint8))
    entries = [{"image": f"{k}.png", "position": [0.4, 0.0, 0.5], "quaternion_xyzw": [1, 0, 0, 0]} for k in range(4)]
    (tmp_path / "poses.yaml").write_text(yaml.safe_dump({"poses": entries}))
    info = write_camera_info(tmp_path / "cam.yaml", INTR)
    out = tmp_path / "out.yaml"
    board = ["--board", "charuco:7x5:0.04:0.03:DICT_5X5_100"]
    args = {"calibrate": ["vision", "calibrate", str(tmp_path / "shots"), *board],
            "handeye": ["vision", "handeye", "--poses", str(tmp_path / "poses.yaml"), "--images",
                        str(tmp_path / "shots"), *board, "--mode", "eye-in-hand", "--camera-info", str(info)]}[cmd]
    r = runner.invoke(cli.app, [*args, "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("officina: error: ") and "at least 3" in lines[0]
    assert "found in 0" in lines[0] and "board spec" in lines[0]
    assert not out.exists()
