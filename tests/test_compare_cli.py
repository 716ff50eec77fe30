"""`officina compare`: end to end on pick-place (ur5e), the files it writes, --run, bad input."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

EXOS = ["laevo", "spexor", "plad", "xotrunk"]
ROWS = ["job done", "cycle time s", "items per hour", "lifting index CLI", "max rate LI<=1 /min",
        "L5/S1 moment N m", "L5/S1 compress. N", "L5/S1 shear N", "LiFFT damage/shift", "P(high-risk job)",
        "REBA, worst end"]


@pytest.fixture(scope="module")
def run():
    from officina.cli import app, register_subcommands

    register_subcommands()
    runner = CliRunner()
    return lambda args: runner.invoke(app, args)


def _check_report(out: dict, metrics: dict, folder):
    assert out["task"] == "pick-place"
    rb = out["robot"]
    assert rb["success"] == metrics["success"] and rb["cycle_time_s"] == pytest.approx(metrics["cycle_time_s"])
    assert rb["items_per_hour"] == pytest.approx(3 * 3600 / metrics["cycle_time_s"])
    # the worker works at the robot's rate by default
    assert out["rate"]["source"] == "robot" and out["rate"]["lifts_per_min"] == pytest.approx(rb["lifts_per_min"])
    w = out["worker"]
    assert list(w["variants"]) == ["none"] + EXOS
    none = w["variants"]["none"]
    assert 0 < none["cli"] < 1 and none["peak_compression_n"] < 3400
    for e in EXOS:
        v = w["variants"][e]
        assert v["peak_compression_n"] < none["peak_compression_n"]
        assert v["change"]["cli"] == 0 and v["source"]
    assert out["table"]["columns"] == ["robot", "worker"] + [f"+{e}" for e in EXOS]
    assert [r[0] for r in out["table"]["rows"]] == ROWS
    assert out["table"]["rows"][0][1] == ("yes" if metrics["success"] else "NO")
    assert any(a.startswith("Robot:") for a in out["actions"]) and any("LI <= 1" in a for a in out["actions"])
    png = (folder / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    md = (folder / "compare.md").read_text()
    assert "| L5/S1 compress. N |" in md and "## What to do" in md and "Hignett" in md
    assert json.loads((folder / "compare.json").read_text())["worker"]["variants"]["none"] == none


@pytest.mark.slow
def test_compare_pick_place_ur5e_end_to_end(run, tmp_path):
    res = run(["compare", "pick-place", "--robot", "ur5e", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["robot"] == "ur5e" and out["robot"]["robot"] == "ur5e"
    _check_report(out, metrics, tmp_path)
    # the text report of the same run folder, read back with --run
    res = run(["compare", "pick-place", "--run", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    for label in ("L5/S1 compress. N", "REBA, worst end", "+spexor", "Robot: does the job"):
        assert label in res.stdout
    assert (tmp_path / "run" / "compare.json").is_file()


@pytest.fixture
def fake_run(tmp_path):
    """A finished run folder as `officina run` leaves it (only what compare reads)."""
    d = tmp_path / "run"
    d.mkdir()
    metrics = {"task": "pick-place", "success": True, "cycle_time_s": 24.0, "robot": "ur5e", "seed": 0}
    (d / "metrics.json").write_text(json.dumps(metrics))
    (d / "config.yaml").write_text(yaml.safe_dump({"task": "pick-place", "robot": "ur5e", "seed": 0, "params": {}}))
    return d, metrics


def test_compare_reads_a_run_folder(run, fake_run, tmp_path):
    d, metrics = fake_run
    res = run(["compare", "pick-place", "--run", str(d), "--out", str(tmp_path / "cmp"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    _check_report(out, metrics, tmp_path / "cmp")
    assert out["rate"]["lifts_per_min"] == pytest.approx(3 * 60 / 24.0)


def test_compare_given_rate_worker_and_exos(run, fake_run, tmp_path):
    d, _ = fake_run
    res = run(["compare", "pick-place", "--run", str(d), "--out", str(tmp_path / "c"), "--rate", "12",
               "--shift-h", "1", "--body-mass-kg", "62", "--stature-m", "1.65", "--sex", "F", "--exo", "spexor",
               "--lift-style", "squat", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    w = out["worker"]
    assert out["rate"] == {"lifts_per_min": 12.0, "source": "given", "items_per_hour": 720.0, "cycle_time_s": 15.0}
    assert w["person"] == {"body_mass_kg": 62.0, "stature_m": 1.65, "sex": "female"} and w["lift_style"] == "squat"
    assert list(w["variants"]) == ["none", "spexor"] and w["niosh"]["duration"] == "short"
    assert w["moves"][0]["reps_per_shift"] == pytest.approx(720.0)
    res = run(["compare", "pick-place", "--run", str(d), "--out", str(tmp_path / "n"), "--exo", "none", "--json"])
    assert list(json.loads(res.stdout)["worker"]["variants"]) == ["none"]


def test_compare_motion_csv(run, fake_run, tmp_path):
    import numpy as np
    from officina.exoskeleton.model import human_model
    from officina.exoskeleton.worker import move_lift, reach_posture

    m = human_model()
    lift = move_lift(reach_posture(m, "stoop", 0.5, 0.9), reach_posture(m, "stoop", 0.5, 0.95), 0.3, "x")
    rows = ["t_s,ankle_deg,knee_deg,hip_deg,l5s1_deg,shoulder_deg,elbow_deg"]
    rows += [",".join([f"{t:.3f}"] + [f"{x:.5f}" for x in np.degrees(q)]) for t, q in zip(lift.t, lift.q)]
    csv = tmp_path / "lift.csv"
    csv.write_text("\n".join(rows) + "\n")
    d, _ = fake_run
    res = run(["compare", "pick-place", "--run", str(d), "--out", str(tmp_path / "c"), "--motion-csv", str(csv), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["worker"]["moves"][0]["lift"].startswith("motion capture")
    res = run(["compare", "pick-place", "--run", str(d), "--out", str(tmp_path / "c2"), "--motion-csv", f"nope={csv}"])
    assert res.exit_code == 2 and "move 'nope': expected one of object to bin" in res.output


@pytest.mark.parametrize("args,match", [
    (["--rate", "-1"], "--rate"),
    (["--rate", "3", "--match-robot"], "not both"),
    (["--sex", "X"], "--sex"),
    (["--exo", "paexo"], "shoulder exoskeleton"),
    (["--exo", "ironman"], "exo"),
    (["--shift-h", "0"], "shift"),
    (["--body-mass-kg", "5"], "body mass"),
    (["--stature-m", "3"], "stature"),
    (["--lift-style", "deadlift"], "lift style"),
    (["--robot", "r2d2"], "robot"),
    (["--set", "params.n_objects=99"], "n_objects"),
    (["--motion-csv", "missing.csv"], "not found"),
    (["--run", "nowhere"], "finished run folder"),
    (["--run", "nowhere", "--robot", "ur5e"], "drop --robot"),
])
def test_compare_bad_input_is_one_line_exit_2_nothing_written(run, tmp_path, args, match):
    out = tmp_path / "out"
    res = run(["compare", "pick-place", "--out", str(out)] + args)
    assert res.exit_code == 2, res.output
    assert match in res.output and res.output.strip().count("\n") == 0
    assert not out.exists()


def test_compare_unknown_task_and_task_mismatch(run, fake_run, tmp_path):
    res = run(["compare", "no-such-task", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "unknown task" in res.output
    d, _ = fake_run
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    cfg["task"] = "other"
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = run(["compare", "pick-place", "--run", str(d)])
    assert res.exit_code == 2 and "not 'pick-place'" in res.output


def test_compare_help_reads_at_80_columns(run):
    res = run(["compare", "--help"])
    assert res.exit_code == 0 and "officina compare pick-place --robot ur5e" in res.stdout


def test_compare_shows_the_robot_runs_progress(run, tmp_path, monkeypatch):
    """The robot run of `officina compare` (minutes for a pallet) shows the run's progress line on
    a terminal, as `officina run` does; --json keeps stdout clean."""
    import officina.runner as runner

    seen = []

    def spy(cfg, out=None, **kw):
        seen.append(kw.get("progress", False))
        raise runner.BadInput("stopped by the test")

    monkeypatch.setattr(runner, "execute_run", spy)
    for args, expected in (([], True), (["--json"], False)):
        res = run(["compare", "pick-place", "--set", "params.n_objects=1", "--out", str(tmp_path / "c"), *args])
        assert res.exit_code == 2 and "stopped by the test" in res.output
        assert seen[-1] is expected


def test_one_item_per_cycle_reads_as_one_item(run, tmp_path):
    """'9.8 s per 1 item', not '1 items' (a cell that handles one part per cycle)."""
    from officina.runner import execute_run, resolve_config

    d = tmp_path / "run"
    execute_run(resolve_config("pick-place", overrides=["params.n_objects=1"]), d)
    res = run(["compare", "pick-place", "--run", str(d), "--out", str(tmp_path / "c"), "--exo", "spexor", "--json"])
    assert res.exit_code == 0, res.output
    line = json.loads(res.stdout)["actions"][0]
    assert line.startswith("Robot: does the job") and line.endswith(" s per 1 item)."), line


def test_an_action_never_asks_to_improve_a_multiplier_that_is_already_1():
    """A multiplier of 1 takes nothing off the load constant (RWL = LC x HM x VM x DM x AM x FM x CM;
    Applications Manual, section 1.4.3: the multipliers show which task factor to change). 30 kg at
    H = 20 cm (HM = 1, Table 1: H <= 25 cm), V = 75 cm (VM = 1), D = 5 cm (DM = 1, D <= 25 cm),
    A = 0 (AM = 1), good coupling (CM = 1), 8 h: LI = 30 / (23 x FM) > 1 at every rate (FM <= 0.85
    for a long duration, Table 5), so the FM is not the fix either; only the load is left."""
    from officina.exoskeleton.comparison import compare_job
    from officina.exoskeleton.job import HandLocation, ManualJob, Move
    from officina.exoskeleton.worker import Worker

    mv = Move("box", 30.0, HandLocation(0.2, 0.75), HandLocation(0.2, 0.80), 1, "good", control_at_destination=False)
    actions = compare_job(ManualJob("t", (mv,)), Worker(), rate_per_min=1.0, shift_h=8.0, exos=())["actions"]
    line = next(a for a in actions if a.startswith("box, origin: LI"))
    assert " first: " not in line and "improve HM" not in line, line
    assert "lighten the load (30 kg)" in line, line
