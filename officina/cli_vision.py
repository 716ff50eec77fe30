"""`officina vision detect|calibrate|handeye`: markers, intrinsic and hand-eye calibration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from officina.cli import handle_errors
from officina.errors import BadInput

VISION_HELP = """Vision: detect ArUco/AprilTag markers with 6-DoF pose, calibrate camera
intrinsics from board images, calibrate hand-eye (eye-in-hand, eye-to-hand). Units: metres,
pixels; poses in the camera optical frame (z forward, x right, y down); quaternions (x, y, z,
w).

Boards: chessboard:COLSxROWS:SQUARE_M (COLS x ROWS inner corners, e.g. chessboard:9x6:0.025 for
a 10 x 7-square board) or charuco:COLSxROWS:SQUARE_M:MARKER_M:DICT[:legacy] (squares, e.g.
charuco:7x5:0.04:0.03:DICT_5X5_100).

Examples:

```
officina vision detect --help
officina vision calibrate --help
officina vision handeye --help
```
"""

vision_app = typer.Typer(
    help=VISION_HELP,
    no_args_is_help=True,
)


def _intrinsics(camera_info: Optional[Path], fx, fy, cx, cy, width: int, height: int):
    from officina.interfaces import CameraIntrinsics
    from officina.vision.camera_info import read_camera_info

    given = [v is not None for v in (fx, fy, cx, cy)]
    if camera_info is not None:
        if any(given):
            raise BadInput("give either --camera-info or --fx/--fy/--cx/--cy, not both")
        intr = read_camera_info(camera_info)
        if (intr.width, intr.height) != (width, height):
            raise BadInput(f"{camera_info} is for {intr.width}x{intr.height} images; the image is {width}x{height}")
        return intr
    if not all(given):
        raise BadInput("camera intrinsics needed: --camera-info FILE.yaml or all of --fx --fy --cx --cy (pixels)")
    if fx <= 0 or fy <= 0:
        raise BadInput("--fx and --fy must be positive (pixels)")
    return CameraIntrinsics(width, height, float(fx), float(fy), float(cx), float(cy))


@vision_app.command("detect")
@handle_errors
def detect(
    image: Path = typer.Argument(..., help="Image file (png, jpg, ...)."),
    dictionary: str = typer.Option(
        "DICT_4X4_50", "--dict",
        help="Marker dictionary: any predefined OpenCV one (DICT_4X4_50 ... DICT_7X7_1000, DICT_ARUCO_ORIGINAL, "
        "DICT_ARUCO_MIP_36H12, DICT_APRILTAG_16H5/25H9/36H10/36H11). Case-insensitive; DICT_ optional.",
    ),
    marker_length_m: float = typer.Option(..., "--marker-length-m", help="Side of the black outer square, metres."),
    camera_info: Optional[Path] = typer.Option(None, "--camera-info", help="ROS camera_info YAML with the intrinsics."),
    fx: Optional[float] = typer.Option(None, "--fx", help="Focal length x, pixels (instead of --camera-info)."),
    fy: Optional[float] = typer.Option(None, "--fy", help="Focal length y, pixels."),
    cx: Optional[float] = typer.Option(None, "--cx", help="Principal point x, pixels."),
    cy: Optional[float] = typer.Option(None, "--cy", help="Principal point y, pixels."),
    refine: str = typer.Option("apriltag", "--refine", help="Corner refinement: apriltag | subpix | contour | none."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """Detect markers in IMAGE and print each one's id, pose and reprojection error.

    JSON: a list of {"id", "position": [x, y, z] (m, camera optical frame), "quaternion_xyzw",
    "reprojection_error_px"}, sorted by id; [] when there is no marker (exit 0).
    Exit 2 for an unreadable image, an unknown dictionary or missing intrinsics.

    Example:

    ```
    officina vision detect frame.png --dict DICT_4X4_50 \\
        --marker-length-m 0.05 --fx 615 --fy 615 --cx 319.5 --cy 239.5 --json
    ```
    """
    from officina.vision.calibration import read_image
    from officina.vision.markers import MarkerParams, detect_markers

    try:
        params = MarkerParams(dictionary, marker_length_m, refine)  # validates the dictionary first
    except ValueError as exc:  # the library names its fields; the user typed the options
        msg = str(exc)
        for field, option in (("marker_length_m", "--marker-length-m"), ("corner_refinement", "--refine")):
            if msg.startswith(field):
                msg = option + msg[len(field):]
        raise BadInput(msg) from None
    img = read_image(image)
    intr = _intrinsics(camera_info, fx, fy, cx, cy, img.shape[1], img.shape[0])
    records = [m.to_json() for m in detect_markers(img, intr, params)]
    if as_json:
        typer.echo(json.dumps(records))
        return
    if not records:
        typer.echo(f"no {params.dictionary} markers in {image}")
        return
    typer.echo(f"{'id':>5} {'x [m]':>9} {'y [m]':>9} {'z [m]':>9}  {'quaternion (x, y, z, w)':<34} {'reproj [px]':>11}")
    for r in records:
        x, y, z = r["position"]
        q = ", ".join(f"{v:+.4f}" for v in r["quaternion_xyzw"])
        typer.echo(f"{r['id']:>5} {x:>9.4f} {y:>9.4f} {z:>9.4f}  {q:<34} {r['reprojection_error_px']:>11.3f}")


@vision_app.command("calibrate")
@handle_errors
def calibrate(
    images_dir: Path = typer.Argument(..., help="Folder of board images (png, jpg, bmp, tif, pgm, ppm), one camera."),
    board: str = typer.Option(..., "--board", help="Board spec (formats: officina vision --help)."),
    out: Path = typer.Option(..., "--out", help="camera_info YAML to write (ROS format; camera_info_manager loads it)."),
    camera_name: str = typer.Option("camera", "--camera-name", help="camera_name written in the YAML."),
    fix_k3: bool = typer.Option(True, "--fix-k3/--free-k3", help="Keep the radial k3 term at 0 (advised for normal lenses)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Calibrate camera intrinsics from a folder of board images; write camera_info YAML.

    Prints fx, fy, cx, cy (px), distortion (k1, k2, p1, p2, k3) and the RMS reprojection error per
    image and overall (px). Use 10-30 images with the board tilted and in every part of the image.
    Exit 2 if the board is found in fewer than 3 images.

    Example:

    ```
    officina vision calibrate calib/ --out camera.yaml \\
        --board charuco:7x5:0.04:0.03:DICT_5X5_100
    ```
    """
    from officina.vision.boards import parse_board
    from officina.vision.calibration import calibrate_folder
    from officina.vision.camera_info import write_camera_info

    from officina.runs import check_out_file

    check_out_file(out, "camera.yaml")
    spec = parse_board(board)
    res = calibrate_folder(images_dir, spec, fix_k3=fix_k3)
    write_camera_info(out, res.intrinsics, camera_name, extra={"rms_reprojection_error_px": res.rms_px, "board": str(spec)})
    doc = {**res.to_json(), "out": str(out)}
    if as_json:
        typer.echo(json.dumps(doc))
        return
    i = res.intrinsics
    typer.echo(f"{i.width}x{i.height}  fx={i.fx:.3f} fy={i.fy:.3f} cx={i.cx:.3f} cy={i.cy:.3f} px")
    typer.echo("distortion (k1 k2 p1 p2 k3): " + " ".join(f"{d:+.5f}" for d in i.distortion))
    for e in res.per_image:
        typer.echo(f"  {e.image:<30} {e.corners:>4} corners  {e.error_px:.3f} px")
    for name in res.rejected:
        typer.echo(f"  {name:<30} board not found (not used)")
    typer.echo(f"overall RMS reprojection error {res.rms_px:.3f} px over {len(res.per_image)} images -> {out}")


@vision_app.command("handeye")
@handle_errors
def handeye(
    poses: Path = typer.Option(..., "--poses", help="YAML: robot flange poses, one per image (format above)."),
    images: Path = typer.Option(..., "--images", help="Folder holding the images named in POSES."),
    board: str = typer.Option(..., "--board", help="Board spec (charuco advised: no 180-degree ambiguity)."),
    mode: str = typer.Option(..., "--mode", help="eye-in-hand (camera on the flange) or eye-to-hand (camera fixed, board on the flange)."),
    out: Path = typer.Option(..., "--out", help="YAML to write the result to."),
    camera_info: Path = typer.Option(..., "--camera-info", help="The camera's intrinsics (ROS camera_info YAML)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Hand-eye calibration from robot poses and board images.

    POSES.yaml lists base_T_flange for every image (metres, quaternion x, y, z, w); a 4x4
    "matrix" may replace position + quaternion_xyzw:

    ```
    poses:
      - {image: img_000.png, position: [0.45, 0.02, 0.51],
         quaternion_xyzw: [1, 0, 0, 0]}
      - {image: img_001.png, matrix: [[...], [...], [...], [0, 0, 0, 1]]}
    ```

    Eye-in-hand gives flange_T_camera and base_T_board; eye-to-hand gives base_T_camera and
    flange_T_board. Use 10+ poses with rotations about different axes.
    Exit 2 if the board is found in fewer than 3 images.

    Example:

    ```
    officina vision handeye --poses poses.yaml --images shots/ \\
        --board charuco:7x5:0.04:0.03:DICT_5X5_100 --mode eye-in-hand \\
        --camera-info camera.yaml --out handeye.yaml
    ```
    """
    import numpy as np

    from officina.vision.boards import parse_board
    from officina.vision.camera_info import read_camera_info
    from officina.vision.handeye import MODES, hand_eye_from_files, write_hand_eye

    from officina.runs import check_out_file

    if mode not in MODES:
        raise BadInput(f"--mode {mode!r}; expected eye-in-hand or eye-to-hand")
    check_out_file(out, "handeye.yaml")
    spec = parse_board(board)
    intr = read_camera_info(camera_info)
    session = hand_eye_from_files(poses, images, spec, intr, mode)
    if session.result is None:  # what the images hold, as calibrate's: bad input (exit 2)
        raise BadInput(f"the board {spec} was found in {session.found} of {session.total} images; "
                       "hand-eye needs at least 3 (check the board spec: chessboard counts inner corners, "
                       "charuco counts squares)")
    res, skipped = session.result, session.skipped
    result = write_hand_eye(out, session)
    if as_json:
        typer.echo(json.dumps({**result, "out": str(out)}))
        return
    nx, _ = res.names
    p, q = result[nx]["position"], result[nx]["quaternion_xyzw"]
    typer.echo(f"{mode}: {nx} position [m] {np.round(p, 5).tolist()} quaternion_xyzw {np.round(q, 6).tolist()}")
    typer.echo(
        f"residuals over {res.n_poses} poses: {res.residual_translation_m * 1e3:.3f} mm, "
        f"{np.rad2deg(res.residual_rotation_rad):.4f} deg; reprojection {res.reprojection_error_px:.3f} px -> {out}"
    )
    for s in skipped:
        typer.echo(f"  {s}: board not found (not used)")
