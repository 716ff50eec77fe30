"""Calibration boards: chessboard and ChArUco. Spec strings, detection, board pose.

Board spec syntax (used by the CLI and by `parse_board`):

- ``chessboard:COLSxROWS:SQUARE_M``: COLS x ROWS *inner corners* (OpenCV's patternSize, as
  ROS camera_calibration's ``--size``), squares of SQUARE_M metres. A board of 10 x 7 squares is
  ``chessboard:9x6:0.025``.
- ``charuco:COLSxROWS:SQUARE_M:MARKER_M:DICT[:legacy]``: COLS x ROWS *squares*, square side and
  marker side in metres, ArUco dictionary; ``legacy`` for boards printed by OpenCV < 4.6 with an
  even number of rows. Example: ``charuco:7x5:0.04:0.03:DICT_5X5_100``.

A chessboard's top-left outer square is black (OpenCV's pattern.png). Its pose is unique when
(COLS + 1) + (ROWS + 1) is odd (e.g. 9x6 inner corners), else ambiguous by a half turn: use
ChArUco for hand-eye calibration.

Board frame (OpenCV's): origin at the top-left corner of the board's outer squares (chessboard:
its first inner corner), x along the columns, y down the rows, z into the board.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from officina.interfaces import CameraIntrinsics

from .markers import _gray, dictionary_id, get_dictionary
from .transforms import make_transform, rotvec_to_matrix

__all__ = ["BoardSpec", "BoardObservation", "parse_board", "detect_board", "board_pose", "board_image"]


@dataclass(frozen=True)
class BoardSpec:
    kind: str  # "chessboard" | "charuco"
    cols: int
    rows: int
    square_m: float
    marker_m: float | None = None
    dictionary: str | None = None
    legacy: bool = False

    def __str__(self) -> str:
        if self.kind == "chessboard":
            return f"chessboard:{self.cols}x{self.rows}:{self.square_m:g}"
        tail = ":legacy" if self.legacy else ""
        return f"charuco:{self.cols}x{self.rows}:{self.square_m:g}:{self.marker_m:g}:{self.dictionary}{tail}"

    def object_points(self) -> np.ndarray:
        """All corners a detection can report, Nx3 in the board frame (index = corner id)."""
        if self.kind == "chessboard":
            ys, xs = np.mgrid[0 : self.rows, 0 : self.cols]
            return np.column_stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)]) * self.square_m
        return np.asarray(_charuco(self).getChessboardCorners(), dtype=np.float64).reshape(-1, 3)

    @property
    def size_m(self) -> tuple[float, float]:
        """Width and height of the printed pattern (chessboard: inner corners + 1 squares)."""
        n = 1 if self.kind == "chessboard" else 0
        return ((self.cols + n) * self.square_m, (self.rows + n) * self.square_m)


_BOARD_HELP = "expected chessboard:COLSxROWS:SQUARE_M or charuco:COLSxROWS:SQUARE_M:MARKER_M:DICT[:legacy]"


def parse_board(text: str) -> BoardSpec:
    """Parse a board spec string (see the module docstring); one-line ValueError when malformed."""
    parts = str(text).strip().split(":")
    kind = parts[0].lower()
    if kind not in ("chessboard", "charuco"):
        raise ValueError(f"board {text!r}: unknown kind {parts[0]!r}; {_BOARD_HELP}")
    want = 3 if kind == "chessboard" else 5
    legacy = False
    if kind == "charuco" and len(parts) == 6 and parts[5].lower() == "legacy":
        legacy, parts = True, parts[:5]
    if len(parts) != want:
        raise ValueError(f"board {text!r}: {len(parts)} fields; {_BOARD_HELP}")
    try:
        cols, rows = (int(v) for v in parts[1].lower().split("x"))
        square = float(parts[2])
        marker = float(parts[3]) if kind == "charuco" else None
    except ValueError:
        raise ValueError(f"board {text!r}: bad size or length; {_BOARD_HELP}") from None
    if cols < 2 or rows < 2 or square <= 0:
        raise ValueError(f"board {text!r}: need at least 2x2 and a positive square side in metres")
    if kind == "charuco":
        dictionary_id(parts[4])
        if not (0 < marker < square):
            raise ValueError(f"board {text!r}: marker side must be positive and smaller than the square side")
        return BoardSpec("charuco", cols, rows, square, marker, parts[4].upper(), legacy)
    return BoardSpec("chessboard", cols, rows, square)


@functools.lru_cache(maxsize=16)
def _charuco(spec: BoardSpec):
    import cv2

    board = cv2.aruco.CharucoBoard((spec.cols, spec.rows), spec.square_m, spec.marker_m, get_dictionary(spec.dictionary))
    board.setLegacyPattern(spec.legacy)
    return board


@functools.lru_cache(maxsize=16)
def _charuco_detector(spec: BoardSpec):
    import cv2

    dp = cv2.aruco.DetectorParameters()
    dp.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return cv2.aruco.CharucoDetector(_charuco(spec), cv2.aruco.CharucoParameters(), dp)


@dataclass(frozen=True)
class BoardObservation:
    """Corners of a board found in one image: ids (index into `BoardSpec.object_points`),
    image points Nx2 (px) and the matching object points Nx3 (m, board frame)."""

    ids: np.ndarray
    image_points: np.ndarray
    object_points: np.ndarray

    def __len__(self) -> int:
        return int(len(self.ids))


def detect_board(image: np.ndarray, spec: BoardSpec, min_corners: int = 6) -> BoardObservation | None:
    """Find the board's corners (sub-pixel). None when the board is not found or too few corners."""
    import cv2

    gray = _gray(image)
    if spec.kind == "chessboard":
        flags = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
        found, corners = cv2.findChessboardCornersSB(gray, (spec.cols, spec.rows), flags=flags)
        if not found:
            found, corners = cv2.findChessboardCorners(
                gray, (spec.cols, spec.rows), flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
            )
            if not found:
                return None
            crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
            corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), crit)
        ids = np.arange(spec.cols * spec.rows)
        img = _orient_chessboard(gray, spec, np.asarray(corners, dtype=np.float64).reshape(-1, 2))
    else:
        ch_corners, ch_ids, _, _ = _charuco_detector(spec).detectBoard(gray)
        if ch_ids is None or len(ch_ids) < max(min_corners, 4):
            return None
        ids = np.asarray(ch_ids).reshape(-1).astype(int)
        img = np.asarray(ch_corners, dtype=np.float64).reshape(-1, 2)
    if len(ids) < min_corners:
        return None
    return BoardObservation(ids, img, spec.object_points()[ids])


def _orient_chessboard(gray: np.ndarray, spec: BoardSpec, img: np.ndarray) -> np.ndarray:
    """OpenCV may list a chessboard's corners from either end. When the board is not symmetric
    under a half turn ((cols + 1) + (rows + 1) odd), put them in the order whose top-left outer
    square is the black one (the board convention of `board_image` and OpenCV's pattern.png)."""
    import cv2

    if (spec.cols + spec.rows) % 2 == 0:
        return img  # a half turn maps the pattern onto itself: the order cannot be decided
    obj = spec.object_points()[:, :2]
    H, _ = cv2.findHomography(obj, img)
    if H is None:
        return img
    s = spec.square_m
    probe = np.array([[-0.5 * s, -0.5 * s], [0.5 * s, -0.5 * s]]).reshape(-1, 1, 2)
    (u0, v0), (u1, v1) = cv2.perspectiveTransform(probe, H).reshape(2, 2)
    h, w = gray.shape
    if not (0 <= u0 < w - 1 and 0 <= v0 < h - 1 and 0 <= u1 < w - 1 and 0 <= v1 < h - 1):
        return img
    corner_sq = float(gray[int(round(v0)), int(round(u0))])
    next_sq = float(gray[int(round(v1)), int(round(u1))])
    return img[::-1].copy() if corner_sq > next_sq else img


def board_pose(obs: BoardObservation, intr: CameraIntrinsics) -> tuple[np.ndarray, float]:
    """(camera_T_board, RMS reprojection error px) of an observation (solvePnP, then LM refinement)."""
    import cv2

    if len(obs) < 4:
        raise ValueError(f"board pose needs at least 4 corners, got {len(obs)}")
    dist = np.asarray(intr.distortion, dtype=np.float64)
    obj = obs.object_points.astype(np.float64)
    img = obs.image_points.astype(np.float64)
    collinear = np.linalg.matrix_rank(obj[:, :2] - obj[:, :2].mean(axis=0), tol=1e-9) < 2
    if collinear:
        raise ValueError("board pose: the detected corners are collinear; expected corners spanning the board")
    ok, rvec, tvec = cv2.solvePnP(obj, img, intr.K, dist, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        raise ValueError("board pose: solvePnP failed")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, intr.K, dist, rvec, tvec)
    proj, _ = cv2.projectPoints(obj, rvec, tvec, intr.K, dist)
    err = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img) ** 2, axis=1))))
    return make_transform(rotvec_to_matrix(rvec.reshape(3)), tvec.reshape(3)), err


def board_image(spec: BoardSpec, px_per_square: int = 80, margin_squares: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """A printable image of the board and its texture->board mapping.

    Returns (uint8 image, A) where A (3x3) maps texture pixel centres (column, row, 1) to board
    frame coordinates (x, y, 1) in metres: x along the columns, y down the rows, origin at the
    board frame's origin (ChArUco: top-left outer corner; chessboard: first inner corner).
    """
    import cv2

    m = spec.square_m / px_per_square
    margin = int(round(margin_squares * px_per_square))
    if spec.kind == "chessboard":
        nx, ny = spec.cols + 1, spec.rows + 1
        tile = np.indices((ny, nx)).sum(axis=0) % 2  # top-left square black
        pattern = np.where(np.kron(tile, np.ones((px_per_square, px_per_square))) > 0, 255, 0).astype(np.uint8)
        origin = margin + px_per_square
    else:
        size = (spec.cols * px_per_square, spec.rows * px_per_square)
        pattern = _charuco(spec).generateImage(size, marginSize=0, borderBits=1)
        origin = margin
    img = cv2.copyMakeBorder(pattern, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
    A = np.array([[m, 0.0, (0.5 - origin) * m], [0.0, m, (0.5 - origin) * m], [0.0, 0.0, 1.0]])
    return img, A
