"""Intrinsic calibration from images of a chessboard or ChArUco board (cv2.calibrateCamera).

    board = parse_board("charuco:7x5:0.04:0.03:DICT_5X5_100")
    result = calibrate_folder("calib_images/", board)
    write_camera_info("camera.yaml", result.intrinsics)
    print(result.rms_px, result.per_image)

The per-image error is the RMS reprojection error (px) of that image's corners under the
calibrated model; the overall error is the RMS over all corners of all used images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from officina.interfaces import CameraIntrinsics

from .boards import BoardObservation, BoardSpec, detect_board

__all__ = ["ImageError", "IntrinsicCalibration", "calibrate_intrinsics", "calibrate_folder", "list_images", "read_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")


@dataclass(frozen=True)
class ImageError:
    image: str
    error_px: float
    corners: int


@dataclass(frozen=True)
class IntrinsicCalibration:
    intrinsics: CameraIntrinsics
    rms_px: float
    per_image: tuple[ImageError, ...]
    rejected: tuple[str, ...]  # images where the board was not found (or too few corners)

    def to_json(self) -> dict:
        i = self.intrinsics
        return {
            "width": i.width,
            "height": i.height,
            "fx": i.fx,
            "fy": i.fy,
            "cx": i.cx,
            "cy": i.cy,
            "distortion": list(i.distortion),
            "rms_reprojection_error_px": self.rms_px,
            "per_image": [{"image": e.image, "reprojection_error_px": e.error_px, "corners": e.corners} for e in self.per_image],
            "rejected": list(self.rejected),
        }


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 (gray files as HxW); a one-line ValueError when unreadable."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ValueError(f"cannot read image {path} (not an image file OpenCV can decode)")
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(float(img.max()), 1.0))
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def calibrate_intrinsics(
    images: Iterable[tuple[str, np.ndarray]],
    board: BoardSpec,
    *,
    fix_k3: bool = True,
    zero_tangential: bool = False,
    min_images: int = 3,
) -> IntrinsicCalibration:
    """Calibrate from (name, image) pairs. Raises ValueError when fewer than ``min_images`` show
    the board or the images differ in size."""
    import cv2

    obs: list[tuple[str, BoardObservation]] = []
    rejected: list[str] = []
    size: tuple[int, int] | None = None
    for name, img in images:
        h, w = img.shape[:2]
        if size is None:
            size = (w, h)
        elif size != (w, h):
            raise ValueError(f"image {name} is {w}x{h}; the others are {size[0]}x{size[1]} (one camera, one size)")
        o = detect_board(img, board)
        if o is None:
            rejected.append(name)
        else:
            obs.append((name, o))
    if len(obs) < min_images:
        raise ValueError(
            f"the board {board} was found in {len(obs)} image(s); calibration needs at least {min_images} "
            f"(check the board spec: chessboard counts inner corners, charuco counts squares)"
        )
    obj = [o.object_points.astype(np.float32) for _, o in obs]
    img = [o.image_points.astype(np.float32).reshape(-1, 1, 2) for _, o in obs]
    flags = 0
    if fix_k3:
        flags |= cv2.CALIB_FIX_K3
    if zero_tangential:
        flags |= cv2.CALIB_ZERO_TANGENT_DIST
    crit = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 200, 1e-12)
    rms, K, dist, rvecs, tvecs = cv2.calibrateCamera(obj, img, size, None, None, flags=flags, criteria=crit)
    per = []
    sq_total, n_total = 0.0, 0
    for (name, o), rv, tv in zip(obs, rvecs, tvecs):
        proj, _ = cv2.projectPoints(o.object_points, rv, tv, K, dist)
        sq = np.sum((proj.reshape(-1, 2) - o.image_points) ** 2, axis=1)
        per.append(ImageError(name, float(np.sqrt(np.mean(sq))), len(o)))
        sq_total += float(sq.sum())
        n_total += len(o)
    intr = CameraIntrinsics(
        size[0], size[1], float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]),
        tuple(float(d) for d in np.asarray(dist).reshape(-1)[:5]),
    )
    return IntrinsicCalibration(intr, float(np.sqrt(sq_total / n_total)), tuple(per), tuple(rejected))


def calibrate_folder(folder: str | os.PathLike, board: BoardSpec, **kwargs) -> IntrinsicCalibration:
    """Calibrate from every image file in a folder (png, jpg, bmp, tif, pgm, ppm), in name order."""
    paths = list_images(folder)
    if not paths:
        raise ValueError(f"no images in {folder}; expected files ending in {', '.join(IMAGE_SUFFIXES)}")
    return calibrate_intrinsics(((p.name, read_image(p)) for p in paths), board, **kwargs)


