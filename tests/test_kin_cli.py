"""`officina kin fk|ik` and `officina bench ik|control`: outputs, exit codes, errors."""

import json

import numpy as np
import pytest
from officina.controllers.model import RobotModel
from typer.testing import CliRunner

from officina import cli
from officina.robots import load_robot

cli.register_subcommands()
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
    assert set(out) == {"success", "q", "position_error_m", "orientation_error_rad", "iterations", "restarts", "solve_ms"}
    assert out["success"] is True and out["position_error_m"] <= 1e-5 and out["orientation_error_rad"] <= 1e-5
    np.testing.assert_allclose(m.fk(np.array(out["q"]), "tcp")[0], pos, atol=1e-5)


def test_ik_unreachable_exits_1_with_errors():
    r = run("kin", "ik", "--robot", "panda", "--position", "2.5,0,0.5", "--quaternion-xyzw", "0,0,0,1",
            "--max-restarts", "10", "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["success"] is False and out["position_error_m"] > 1.0 and len(out["q"]) == 7


def test_ik_answer_does_not_depend_on_the_machine_speed(monkeypatch):
    """Without --timeout-ms the answer is a function of the inputs: the same on a machine where
    every clock reading is a second later (restarts are spent in full either way)."""
    import officina.controllers.ik as ik_module

    args = ["kin", "ik", "--robot", "panda", "--position", "2.5,0,0.5", "--quaternion-xyzw", "0,0,0,1",
            "--max-restarts", "5", "--json"]
    first = run(*args)
    assert first.exit_code == 1
    a = json.loads(first.stdout)
    assert a["restarts"] == 5

    class SlowClock:
        t = 0.0

        def perf_counter(self):
            self.t += 1.0
            return self.t

    monkeypatch.setattr(ik_module, "time", SlowClock())
    b = json.loads(run(*args).stdout)
    for out in (a, b):
        del out["solve_ms"]
    assert a == b


@pytest.mark.parametrize("args, needle", [
    (["kin", "fk", "--robot", "panda", "--q", "1,2"], "expected 7"),
    (["kin", "fk", "--robot", "panda", "--q", "a,b,c,d,e,f,g"], "comma-separated numbers"),
    (["kin", "fk", "--robot", "nope", "--q", "0"], "unknown robot"),
    (["kin", "fk", "--robot", "panda", "--q", "0,0,0,-1,0,1,0", "--frame", "nolink"], "unknown frame"),
    (["kin", "ik", "--robot", "panda", "--position", "0.3,0", "--quaternion-xyzw", "0,0,0,1"], "expected 3"),
    (["kin", "ik", "--robot", "panda", "--position", "0.3,0,0.4", "--quaternion-xyzw", "0,0,0,0"], "non-zero"),
    (["kin", "ik", "--robot", "panda", "--position", "nan,0,0.4", "--quaternion-xyzw", "0,0,0,1"], "finite"),
    (["kin", "ik", "--robot", "panda", "--position", "0.3,0,0.4", "--quaternion-xyzw", "0,0,0,1",
      "--timeout-ms", "0"], "positive"),
])
def test_malformed_input_exits_2_with_one_line(args, needle):
    r = run(*args)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and err[0].startswith("officina: error:")


def test_bench_ik_json_contract():
    # A generous budget: success rates here should not depend on how loaded the machine is.
    r = run("bench", "ik", "--robot", "panda", "--n", "60", "--budget-ms", "50", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for k in ("officina", "trac_ik", "pybullet"):
        assert set(out["results"][k]) >= {"success_rate", "mean_ms", "median_ms", "p99_ms"}
    assert out["results"]["officina"]["success_rate"] >= 0.95
    # A fair baseline: what TRAC-IK accepts (per twist component within eps) is within the
    # tolerance by norm, the check every solver is held to.
    assert out["trac_ik_eps"] == pytest.approx(out["tolerance"] / np.sqrt(3))
    trac = out["results"]["trac_ik"]
    assert trac["self_reported_success_rate"] > 0.5
    assert trac["accepted_outside_tolerance_rate"] == 0.0
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
