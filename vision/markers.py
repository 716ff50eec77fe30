"""Fiducial markers: ArUco (every predefined OpenCV dictionary) and AprilTag, with 6-DoF pose.

Marker frame (OpenCV's): origin at the marker centre, x to the marker's right, y up (towards
its top edge as printed), z out of the marker towards the viewer. ``marker_length_m`` is the
side of the black outer square. Pose is ``camera_T_marker`` from ``solvePnP`` with
``SOLVEPNP_IPPE_SQUARE`` (the planar-square solver: of its two solutions the one with the lower
reprojection error), and the reprojection error is the RMS over the four corners, in pixels.

    params = MarkerParams("DICT_4X4_50", marker_length_m=0.05)
    for m in detect_markers(rgb, intrinsics, params):
        print(m.id, m.camera_T_marker[:3, 3], m.reprojection_error_px)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from officina.interfaces import CameraIntrinsics

from .transforms import make_transform, matrix_to_quat, rotvec_to_matrix

__all__ = [
    "MarkerParams",
    "MarkerDetection",
    "dictionary_names",
    "dictionary_id",
    "get_dictionary",
    "detect_markers",
    "marker_object_points",
    "marker_image",
]

_REFINE = ("none", "subpix", "contour", "apriltag")
_ALIASES = {"TAG36H11": "APRILTAG_36H11", "TAG25H9": "APRILTAG_25H9", "TAG16H5": "APRILTAG_16H5", "TAG36H10": "APRILTAG_36H10"}


@functools.lru_cache(maxsize=1)
def _dictionary_table() -> dict[str, tuple[str, int]]:
    import cv2

    table: dict[str, tuple[str, int]] = {}
    for name in sorted(dir(cv2.aruco)):
        if name.startswith("DICT_"):
            value = int(getattr(cv2.aruco, name))
            # OpenCV has DICT_APRILTAG_36h11 and DICT_APRILTAG_36H11: one canonical upper-case name
            table.setdefault(name.upper(), (name.upper(), value))
    return table


def dictionary_names() -> list[str]:
    """Names of every predefined OpenCV dictionary, e.g. DICT_4X4_50, DICT_APRILTAG_36H11."""
    return sorted(_dictionary_table())


def dictionary_id(name: str) -> int:
    """OpenCV's enum value of a dictionary name (case-insensitive, DICT_ prefix optional; tag36h11 ok)."""
    key = str(name).strip().upper()
    key = _ALIASES.get(key, key)
    if not key.startswith("DICT_"):
        key = "DICT_" + key
    table = _dictionary_table()
    if key not in table:
        raise ValueError(
            f"unknown marker dictionary {name!r}; expected one of {', '.join(dictionary_names())}"
        )
    return table[key][1]


@functools.lru_cache(maxsize=64)
def get_dictionary(name: str):
    import cv2

    return cv2.aruco.getPredefinedDictionary(dictionary_id(name))


@dataclass(frozen=True)
class MarkerParams:
    """What to detect: dictionary name, physical side of the markers (m), corner refinement.

    ``marker_length_m`` None means detection without pose. ``corner_refinement`` is one of
    apriltag | subpix | contour | none. The default, apriltag (OpenCV's CORNER_REFINE_APRILTAG:
    lines fitted to the marker's edges), was the most accurate in our ground-truth benchmark
    (benchmarks/bench_vision.py): its corners use the AprilTag pixel convention (pixel centres at
    +0.5, AprilRobotics/apriltag#121), which `detect_markers` shifts back by 0.5 px to OpenCV's.
    """

    dictionary: str = "DICT_4X4_50"
    marker_length_m: float | None = None
    corner_refinement: str = "apriltag"

    def __post_init__(self) -> None:
        dictionary_id(self.dictionary)
        if self.marker_length_m is not None and not (self.marker_length_m > 0):
            raise ValueError(f"marker_length_m must be > 0 metres, got {self.marker_length_m}")
        if self.corner_refinement not in _REFINE:
            raise ValueError(f"corner_refinement {self.corner_refinement!r}; expected one of {', '.join(_REFINE)}")


@dataclass(frozen=True)
class MarkerDetection:
    """One detected marker. ``corners_px`` 4x2 (top-left, top-right, bottom-right, bottom-left
    of the printed marker); ``camera_T_marker`` 4x4 or None without intrinsics/marker length."""

    id: int
    corners_px: np.ndarray
    camera_T_marker: np.ndarray | None = None
    reprojection_error_px: float | None = None

    @property
    def position(self) -> np.ndarray | None:
        return None if self.camera_T_marker is None else self.camera_T_marker[:3, 3].copy()

    @property
    def quaternion_xyzw(self) -> np.ndarray | None:
        return None if self.camera_T_marker is None else matrix_to_quat(self.camera_T_marker[:3, :3])

    def to_json(self) -> dict:
        """The CLI's JSON record: id, position [m], quaternion_xyzw, reprojection_error_px."""
        out: dict = {"id": int(self.id)}
        if self.camera_T_marker is not None:
            out["position"] = [float(v) for v in self.position]
            out["quaternion_xyzw"] = [float(v) for v in self.quaternion_xyzw]
            out["reprojection_error_px"] = float(self.reprojection_error_px)
        return out


def marker_object_points(marker_length_m: float) -> np.ndarray:
    """4x3 corners in the marker frame, in the order of detected corners (IPPE_SQUARE's order)."""
    h = marker_length_m / 2.0
    return np.array([[-h, h, 0.0], [h, h, 0.0], [h, -h, 0.0], [-h, -h, 0.0]])


@functools.lru_cache(maxsize=32)
def _detector(dictionary: str, corner_refinement: str):
    import cv2

    p = cv2.aruco.DetectorParameters()
    p.cornerRefinementMethod = {
        "none": cv2.aruco.CORNER_REFINE_NONE,
        "subpix": cv2.aruco.CORNER_REFINE_SUBPIX,
        "contour": cv2.aruco.CORNER_REFINE_CONTOUR,
        "apriltag": cv2.aruco.CORNER_REFINE_APRILTAG,
    }[corner_refinement]
    return cv2.aruco.ArucoDetector(get_dictionary(dictionary), p)


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    img = np.asarray(image)
    if img.ndim == 2:
        return img if img.dtype == np.uint8 else np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2GRAY if img.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        return cv2.cvtColor(img.astype(np.uint8, copy=False), code)
    raise ValueError(f"image: expected HxW gray or HxWx3 RGB, got shape {img.shape}")


def square_pose(corners_px: np.ndarray, marker_length_m: float, intr: CameraIntrinsics) -> tuple[np.ndarray, float]:
    """(camera_T_marker, RMS reprojection error px) of one square marker by IPPE_SQUARE."""
    import cv2

    obj = marker_object_points(marker_length_m)
    img = np.asarray(corners_px, dtype=np.float64).reshape(4, 1, 2)
    dist = np.asarray(intr.distortion, dtype=np.float64)
    n, rvecs, tvecs, errs = cv2.solvePnPGeneric(obj, img, intr.K, dist, flags=cv2.SOLVEPNP_IPPE_SQUARE)
    if n < 1:
        raise ValueError("IPPE_SQUARE found no pose for a marker")
    best = int(np.argmin(np.asarray(errs).reshape(-1)))
    rvec, tvec = np.asarray(rvecs[best]).reshape(3), np.asarray(tvecs[best]).reshape(3)
    # OpenCV's reprojectionError is the RMS per coordinate (1/sqrt(2) of the per-corner one): the
    # error reported is the RMS over the corners of their distance to the reprojection, as for boards
    proj, _ = cv2.projectPoints(obj, rvec, tvec, intr.K, dist)
    err = float(np.sqrt(np.mean(np.sum((proj.reshape(4, 2) - img.reshape(4, 2)) ** 2, axis=1))))
    return make_transform(rotvec_to_matrix(rvec), tvec), err


def detect_markers(
    image: np.ndarray, intrinsics: CameraIntrinsics | None, params: MarkerParams
) -> list[MarkerDetection]:
    """Detect markers of ``params.dictionary`` in an RGB or gray image, sorted by id.

    With intrinsics and ``params.marker_length_m`` each detection carries its 6-DoF pose in the
    camera optical frame and its reprojection error; otherwise corners only.
    """
    gray = _gray(image)
    if intrinsics is not None and (gray.shape[1], gray.shape[0]) != (intrinsics.width, intrinsics.height):
        raise ValueError(
            f"image is {gray.shape[1]}x{gray.shape[0]} but the intrinsics are for {intrinsics.width}x{intrinsics.height}"
        )
    corners, ids, _ = _detector(params.dictionary, params.corner_refinement).detectMarkers(gray)
    if ids is None or len(ids) == 0:
        return []
    # CORNER_REFINE_APRILTAG reports corners with pixel centres at +0.5 (AprilTag's convention)
    shift = 0.5 if params.corner_refinement == "apriltag" else 0.0
    out = []
    for c, i in zip(corners, np.asarray(ids).reshape(-1)):
        c = np.asarray(c, dtype=np.float64).reshape(4, 2) - shift
        if intrinsics is not None and params.marker_length_m is not None:
            T, err = square_pose(c, params.marker_length_m, intrinsics)
            out.append(MarkerDetection(int(i), c, T, err))
        else:
            out.append(MarkerDetection(int(i), c))
    out.sort(key=lambda m: m.id)
    return out


def marker_image(dictionary: str, marker_id: int, side_px: int, border_bits: int = 1) -> np.ndarray:
    """The printable marker image (uint8, side_px square, black outer square to the edge)."""
    import cv2

    d = get_dictionary(dictionary)
    n = d.bytesList.shape[0]
    if not (0 <= marker_id < n):
        raise ValueError(f"marker id {marker_id} is not in {dictionary} (ids 0..{n - 1})")
    return cv2.aruco.generateImageMarker(d, int(marker_id), int(side_px), borderBits=border_bits)
