"""One YAML reader for every file officina reads (configuration, robot, camera info, camera pose,
hand-eye poses, ROS profile): a wrong file is one ValueError line naming the file and the fault."""

import pytest

from officina.config import load_yaml
from officina.interfaces import read_yaml
from officina.robots import load_robot
from officina.ros.robot_profiles import load_profile
from officina.vision.camera_info import read_camera_info
from officina.vision.handeye import load_base_T_camera, read_pose_file

LOADERS = {
    "config file": load_yaml,
    "robot file": lambda p: load_robot(str(p)),
    "camera info file": read_camera_info,
    "camera pose file": load_base_T_camera,
    "poses file": read_pose_file,
    "ROS profile": lambda p: load_profile(str(p)),
}


def _one_line_value_error(call, *needles):
    with pytest.raises(ValueError) as exc:
        call()
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


def test_read_yaml(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("a: 1\nb: [1, 2]\n")
    assert read_yaml(f) == {"a": 1, "b": [1, 2]}
    f.write_text("")
    assert read_yaml(f) is None and read_yaml(f, mapping=True) == {}
    f.write_text("- 1\n- 2\n")
    assert read_yaml(f) == [1, 2]
    _one_line_value_error(lambda: read_yaml(f, "thing file", mapping=True), "thing file", str(f),
                          "expected a mapping", "list")
    f.write_text("a: [1, 2\nb: {\n")
    _one_line_value_error(lambda: read_yaml(f, "thing file"), "thing file", str(f), "not valid YAML")
    _one_line_value_error(lambda: read_yaml(tmp_path / "nope.yaml", "thing file"), "thing file not found",
                          "nope.yaml")
    f.write_bytes(b"\xff\xfe\x00bad")
    _one_line_value_error(lambda: read_yaml(f, "thing file"), "thing file", str(f))


@pytest.mark.parametrize("what", list(LOADERS))
def test_every_file_reader_says_what_is_wrong_in_one_line(tmp_path, what):
    load = LOADERS[what]
    broken = tmp_path / "broken.yaml"
    broken.write_text("key: [1, 2\nother: {\n")
    _one_line_value_error(lambda: load(broken), what, str(broken), "not valid YAML")
    missing = tmp_path / "missing.yaml"
    _one_line_value_error(lambda: load(missing), "missing.yaml")


@pytest.mark.parametrize("what", ["config file", "robot file", "camera info file", "camera pose file", "ROS profile"])
def test_a_list_where_a_mapping_belongs_is_refused(tmp_path, what):
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    _one_line_value_error(lambda: LOADERS[what](f), what, "expected a mapping")


def test_the_cli_turns_a_broken_file_into_exit_2(tmp_path, cli):
    broken = tmp_path / "arm.yaml"
    broken.write_text("name: [x\n")
    r = cli(["kin", "fk", "--robot", broken, "--q", "0"])
    assert r.exit_code == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("officina: error: robot file") and "not valid YAML" in err[0]
