"""A fixed camera's pose for `officina ros task --camera-pose-file`: read from the hand-eye result
(`officina vision handeye --mode eye-to-hand`) or a plain pose; wrong files refused with the reason."""

import numpy as np
import pytest
import yaml

from officina.vision.handeye import HandEyeResult, load_base_T_camera
from officina.vision.transforms import pose_to_transform


def _T():
    return pose_to_transform([0.5, -0.1, 1.2], [0.9238795, 0.0, 0.3826834, 0.0])


def test_reads_the_eye_to_hand_result(tmp_path):
    res = HandEyeResult(mode="eye-to-hand", X=_T(), Y=np.eye(4), residual_translation_m=1e-4,
                        residual_rotation_rad=1e-4, reprojection_error_px=0.2, n_poses=12)
    f = tmp_path / "handeye.yaml"
    f.write_text(yaml.safe_dump(res.to_json()))
    np.testing.assert_allclose(load_base_T_camera(f), _T(), atol=1e-9)


def test_reads_a_plain_pose_or_matrix(tmp_path):
    f = tmp_path / "pose.yaml"
    f.write_text(yaml.safe_dump({"position": [0.5, -0.1, 1.2], "quaternion_xyzw": [0.9238795, 0.0, 0.3826834, 0.0]}))
    np.testing.assert_allclose(load_base_T_camera(f), _T(), atol=1e-6)
    f.write_text(yaml.safe_dump({"matrix": _T().tolist()}))
    np.testing.assert_allclose(load_base_T_camera(f), _T(), atol=1e-9)


@pytest.mark.parametrize("doc, message", [
    ({"mode": "eye-in-hand", "flange_T_camera": {"position": [0, 0, 0], "quaternion_xyzw": [0, 0, 0, 1]}},
     "eye-in-hand result"),
    ({"position": [0, 0, 0]}, "missing 'quaternion_xyzw'"),
    ([1, 2, 3], "expected a mapping"),
])
def test_wrong_files_are_refused_with_the_reason(tmp_path, doc, message):
    f = tmp_path / "pose.yaml"
    f.write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match=message):
        load_base_T_camera(f)
    with pytest.raises(ValueError, match="not found"):
        load_base_T_camera(tmp_path / "nope.yaml")
