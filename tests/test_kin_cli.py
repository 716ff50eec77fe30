"""`officina kin fk|ik` and `officina bench ik|control`: outputs, exit codes, errors."""

import json

import numpy as np
import pytest
from officina.controllers.model import RobotModel
from typer.testing import CliRunner

from officina import cli
from officina.robots import load_robot

cli._register_subcommands()
runner = CliRunner()


def run(*args):
    return runner.invoke(cli.app, list(args))


def test_fk_json_matches_the_model():
    m = RobotModel.from_spec(load_robot("panda"))
    q = m.spec.home
    r = run("kin", "fk", "--robot", "panda", "--q", ",".join(map(str, q)), "--frame", "tcp", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) == {"position", "quaternion_xyzw"}
    pos, quat = m.fk(q, "tcp")
    np.testing.assert_allclose(out["position"], pos, atol=1e-12)
    np.testing.assert_allclose(out["quaternion_xyzw"], quat, atol=1e-12)
    human = run("kin", "fk", "--robot", "panda", "--q", ",".join(map(str, q)))
    assert human.exit_code == 0 and "position" in human.stdout


def test_ik_json_round_trip():
    m = RobotModel.from_spec(load_robot("ur5e"))
    q = m.spec.home + 0.2
    pos, quat = m.fk(q, "tcp")
    r = run("kin", "ik", "--robot", "ur5e", "--position", ",".join(repr(float(v)) for v in pos),
            "--quaternion-xyzw", ",".join(repr(float(v)) for v in quat), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) == {"success", "q", "position_error_m", "orientation_error_rad", "solve_ms"}
    assert out["success"] is True and out["position_error_m"] <= 1e-5 and out["orientation_error_rad"] <= 1e-5
    np.testing.assert_allclose(m.fk(np.array(out["q"]), "tcp")[0], pos, atol=1e-5)


def test_ik_unreachable_exits_1_with_errors():
    r = run("kin", "ik", "--robot", "panda", "--position", "2.5,0,0.5", "--quaternion-xyzw", "0,0,0,1",
            "--timeout-ms", "20", "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["success"] is False and out["position_error_m"] > 1.0 and len(out["q"]) == 7


@pytest.mark.parametrize("args, needle", [
    (["kin", "fk", "--robot", "panda", "--q", "1,2"], "expected 7"),
    (["kin", "fk", "--robot", "panda", "--q", "a,b,c,d,e,f,g"], "comma-separated numbers"),
    (["kin", "fk", "--robot", "nope", "--q", "0"], "unknown robot"),
    (["kin", "fk", "--robot", "panda", "--q", "0,0,0,-1,0,1,0", "--frame", "nolink"], "unknown frame"),
    (["kin", "ik", "--robot", "panda", "--position", "0.3,0", "--quaternion-xyzw", "0,0,0,1"], "expected 3"),
    (["kin", "ik", "--robot", "panda", "--position", "0.3,0,0.4", "--quaternion-xyzw", "0,0,0,0"], "non-zero"),
    (["kin", "ik", "--robot", "panda", "--position", "nan,0,0.4", "--quaternion-xyzw", "0,0,0,1"], "finite"),
])
def test_malformed_input_exits_2_with_one_line(args, needle):
    r = run(*args)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and err[0].startswith("officina: error:")


def test_bench_ik_json_contract():
    r = run("bench", "ik", "--robot", "panda", "--n", "20", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for k in ("officina", "trac_ik", "pybullet"):
        assert set(out["results"][k]) >= {"success_rate", "mean_ms", "median_ms", "p99_ms"}
    assert out["results"]["officina"]["success_rate"] >= 0.95
    assert set(out["ratios_officina_over"]) == {"trac_ik", "pybullet"}
    assert run("bench", "ik", "--n", "0").exit_code == 2


def test_bench_control_json():
    r = run("bench", "control", "--robot", "ur5e", "--law", "computed_torque", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    row = out["results"][0]
    assert row["robot"] == "ur5e" and row["law"] == "computed_torque"
    assert row["tcp_max_m"] < 1e-3
    assert run("bench", "control", "--law", "nope").exit_code == 2
