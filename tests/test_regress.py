"""`officina regress`: the committed baselines pass; a baseline stricter than what the code
achieves fails with exit 1 and says which metric; bad input is one line, exit 2."""

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _regress_seed_0(cli, tmp_path, task: str, robot: str) -> list[dict]:
    """`officina regress` of one committed baseline on seed 0: it passes; its results."""
    r = cli(["regress", "--baselines", ROOT / "baselines", "--tasks", task, "--robots", robot,
             "--seeds", "0", "--workers", "1", "--out", tmp_path / "reg", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)["results"]
    assert [(x["task"], x["robot"], x["ok"]) for x in res] == [(task, robot, True)]
    return res


@pytest.mark.timeout(600)
def test_the_committed_baseline_passes(cli, tmp_path):
    """The fast subset CI runs on every submission: pick-place on the Panda, seed 0."""
    res = _regress_seed_0(cli, tmp_path, "pick-place", "panda")
    assert {c["metric"] for c in res[0]["checks"]} >= {"objects_placed", "cycle_time_s", "protective_stops"}
    assert (tmp_path / "reg" / "regress.json").is_file()


@pytest.mark.slow
@pytest.mark.timeout(900)  # one three-carton run, about a minute on a free core; a hang guard
def test_the_palletizing_baseline_passes(cli, tmp_path):
    """palletizing's committed baselines (three cartons, UR10e and IRB 2600) hold on the UR10e, seed 0."""
    res = _regress_seed_0(cli, tmp_path, "palletizing", "ur10e")
    assert {c["metric"] for c in res[0]["checks"]} >= {"boxes_placed", "boxes_per_min", "placement_error_max_mm"}


@pytest.mark.timeout(600)
def test_a_stricter_baseline_fails_and_update_writes_what_the_code_achieves(cli, tmp_path):
    base = tmp_path / "baselines"
    r = cli(["regress", "--update", "--tasks", "pick-place", "--robots", "panda", "--seeds", "0",
             "--set", "params.n_objects=1", "--baselines", base, "--workers", "1", "--out", tmp_path / "u", "--json"])
    assert r.exit_code == 0, r.output
    f = base / "pick-place-panda.yaml"
    data = yaml.safe_load(f.read_text())
    assert data["set"] == ["params.n_objects=1"] and data["measured"][0]["success"] is True
    assert "officina regress --update" in f.read_text()  # the command that writes it again
    # the code does what it did: it passes
    r = cli(["regress", "--baselines", base, "--workers", "1", "--out", tmp_path / "ok", "--json"])
    assert r.exit_code == 0, r.output
    # a cycle time the code does not achieve: a regression, exit 1, named
    data["measured"][0]["cycle_time_s"] = round(0.5 * data["measured"][0]["cycle_time_s"], 3)
    f.write_text(yaml.safe_dump(data))
    r = cli(["regress", "--baselines", base, "--workers", "1", "--out", tmp_path / "bad", "--json"])
    assert r.exit_code == 1, r.output
    res = json.loads(r.stdout)["results"][0]
    assert not res["ok"] and any("cycle_time_s" in x for x in res["failures"])


@pytest.mark.parametrize("args, message", [
    (["--tasks", "no-such-task"], "unknown task 'no-such-task'"),
    (["--robots", "no-such-robot"], "unknown robot 'no-such-robot'"),
    (["--tasks", "pick-place", "--robots", "ur10e"], "no baseline"),
    (["--update", "--tasks", "no-such-task", "--robots", "panda"], "unknown task 'no-such-task'"),
    (["--update", "--tasks", "pick-place", "--robots", "panda", "--set", "params.n_objectz=2"],
     "config key 'params.n_objectz': unknown key"),
    (["--update", "--tasks", "pick-place"], "--update needs --tasks and --robots"),
    (["--set", "params.n_objects=1"], "--set goes with --update"),
    (["--baselines", "does/not/exist"], "baselines folder not found"),
    (["--seeds", "7"], "no measured values for seed 7"),
])
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(ROOT)
    r = cli(["regress", *args, "--out", tmp_path / "x"])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # nothing half-made


def test_every_built_in_task_has_committed_baselines_that_load():
    """A baseline per built-in task and robot it runs on (the vacuum-cup arms for palletizing,
    the parallel-gripper arms for the others), each naming a known robot and at least one seed
    that succeeded when it was written."""
    from officina.regress import load_baselines
    from officina.robots import builtin_robots
    from officina.tasks import TASKS

    baselines = load_baselines(ROOT / "baselines")
    have = {(b.task, b.robot) for b in baselines}
    for task in TASKS:
        robots = ("ur10e", "irb2600") if task == "palletizing" else ("panda", "iiwa", "ur5e")
        assert {(task, r) for r in robots} <= have, f"{task}: baselines missing for {set(robots) - {r for t, r in have if t == task}}"
    for b in baselines:
        assert b.robot in builtin_robots() and b.seeds
        assert any(b.measured[s]["success"] for s in b.seeds), (b.task, b.robot)


def _peg_row(success: bool, insertion_time_s, attempts: int, cycle_time_s: float = 10.0) -> dict:
    return {"status": "ok", "success": success,
            "metrics": {"insertion_time_s": insertion_time_s, "peak_contact_force_n": 10.0, "attempts": attempts,
                        "search_distance_mm": 1.0, "cycle_time_s": cycle_time_s,
                        "max_joint_tracking_error_rad": 0.001, "safety_events_total": 0, "protective_stops": 0}}


def test_a_metric_without_a_value_is_compared_over_the_seeds_that_have_one():
    """A baseline may hold null for a metric (peg-in-hole's insertion time on a seed that did not
    seat): evaluating it works, compares each metric over the seeds that have a value in both,
    and a seed that had a value in the baseline and has none now is a regression."""
    from officina.regress import baseline_from_rows, evaluate

    base = baseline_from_rows("peg-in-hole", "panda", [0, 1], [], 0.1,
                              {0: _peg_row(True, 2.0, 1), 1: _peg_row(False, None, 3)})
    assert base.measured[1]["insertion_time_s"] is None
    v = evaluate(base, {0: _peg_row(True, 2.0, 1), 1: _peg_row(False, None, 3)})
    assert v.ok, v.failures
    ins = next(c for c in v.checks if c.metric == "insertion_time_s")
    assert (ins.baseline, ins.measured) == (2.0, 2.0)
    # seed 1 seats now, slowly: not compared against seed 0's baseline (it had no time then)
    v = evaluate(base, {0: _peg_row(True, 2.0, 1), 1: _peg_row(True, 9.0, 3)})
    assert v.ok, v.failures
    # seed 0 no longer seats: its time is gone (and its success lost), both said
    v = evaluate(base, {0: _peg_row(False, None, 3), 1: _peg_row(False, None, 3)})
    assert not v.ok
    assert any("insertion_time_s" in f and "[0]" in f for f in v.failures), v.failures
    assert any("succeeded in the baseline" in f for f in v.failures), v.failures


def test_the_table_shows_a_metric_that_has_no_value_now(capsys, monkeypatch, tmp_path):
    """A regression that is no check's row (a metric with no value now) is a WORSE row of the table."""
    from officina.cli_regress import _print

    monkeypatch.setenv("COLUMNS", "200")
    _print([{"task": "peg-in-hole", "robot": "panda", "seeds": [0], "ok": False, "success_rate": 1.0,
             "baseline_success_rate": 1.0, "checks": [], "errors": [],
             "failures": ["insertion_time_s has no value now on seeds [0] (the baseline has one)"]}], False, tmp_path)
    out = capsys.readouterr().out
    assert "insertion_time_s" in out and "WORSE" in out, out


def test_the_table_keeps_every_metric_name_whole_at_80_columns(monkeypatch, capsys):
    """At 80 columns (COLUMNS=80: a narrow terminal or log). Every metric name (the
    longest, max_joint_tracking_error_rad, is 28 characters), task, robot and reason is there whole,
    and no line is longer than 80."""
    from officina.cli_regress import _print

    monkeypatch.setenv("COLUMNS", "80")
    checks = [{"metric": m, "baseline": b, "measured": n, "limit": lim, "better": "lower", "ok": n <= lim}
              for m, b, n, lim in (("max_joint_tracking_error_rad", 0.006128, 0.0061, 0.006741),
                                   ("safety_events_total", 914.0, 1234.5678, 1005.4),
                                   ("protective_stops", 0.0, 0.0, 0.0), ("cycle_time_s", 38.728, 38.7, 42.6))]
    gone = "localisation_error_mm_max has no value now on seeds [2] (the baseline has one)"
    results = [{"task": "machine-tending", "robot": "irb2600", "seeds": [0, 1, 2], "ok": False,
                "success_rate": 2 / 3, "baseline_success_rate": 1.0, "checks": checks,
                "failures": ["seeds [2] succeeded in the baseline and fail now", gone],
                "errors": ["seed 1: RuntimeError: the state log's writer process ended"], "runs": "x"}]
    _print(results, False, Path("runs/regress-x"))
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= 80
    assert "…" not in out
    for name in ("machine-tending", "irb2600", "max_joint_tracking_error_rad", "safety_events_total",
                 "protective_stops", "cycle_time_s", "localisation_error_mm_max"):
        assert any(name in x for x in lines), name
    row = next(x for x in lines if "max_joint_tracking_error_rad" in x)
    assert "0.0061" in row and "<= 0.006741" in row and "0.006128" in row and "ok" in row
    assert "WORSE" in next(x for x in lines if "safety_events_total" in x)
    assert "the baseline has one" in " ".join(" ".join(lines).split())  # the reason, wrapped or not
    _print([{"task": "machine-tending", "robot": "irb2600", "seeds": [0, 1, 2], "success_rate": 1.0,
             "written": "baselines/machine-tending-irb2600.yaml"}], True, Path("runs/regress-y"))
    out = capsys.readouterr().out
    assert max(len(x) for x in out.splitlines()) <= 80 and "…" not in out
    assert "machine-tending-irb2600.yaml" in out and "baselines in: baselines" in out
