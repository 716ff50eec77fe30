"""`officina sweep`: seeds x grid through Dask (LocalCluster), bad input refused before anything starts."""

import json

import pytest

from officina.errors import BadInput
from officina.sweep import parse_grid, parse_seeds


def test_parse_seeds_and_grid():
    assert parse_seeds("0-3,7,2") == [0, 1, 2, 3, 7]
    assert parse_grid(["params.n_objects=1,3", "robot=panda,ur5e"]) == {
        "params.n_objects": [1, 3], "robot": ["panda", "ur5e"]}
    for bad in ("5-2", "a", "", "-1"):
        with pytest.raises(BadInput):
            parse_seeds(bad)
    with pytest.raises(BadInput, match="KEY=V1,V2"):
        parse_grid(["params.n_objects"])


@pytest.mark.parametrize("args, message", [
    (["--grid", "params.bogus=1,2"], "config key 'params.bogus': unknown key"),
    (["--grid", "robot=panda,kr6"], "unknown robot 'kr6'"),
    (["--seeds", "3-1"], "--seeds '3-1'"),
])
def test_bad_sweep_input_exits_2_before_starting(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = cli(["sweep", "pick-place", *args])
    assert r.exit_code == 2 and message in r.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.timeout(300)
def test_sweep_on_a_local_cluster_matches_single_runs(cli, tmp_path):
    r = cli(["sweep", "pick-place", "--seeds", "0-1", "--set", "params.n_objects=1", "--workers", "2",
             "--out", str(tmp_path / "sw"), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert data["success_rate"] == 1.0 and len(data["runs"]) == 2
    assert (tmp_path / "sw" / "sweep.png").is_file()
    # a run in a Dask worker process gives the same metrics as the same run here
    from officina.runner import execute_run, resolve_config

    direct = execute_run(resolve_config("pick-place", seed=1, overrides=["params.n_objects=1", "log.plots=false"]),
                         tmp_path / "direct").metrics
    swept = json.loads((tmp_path / "sw" / "seed1" / "metrics.json").read_text())
    for key in ("cycle_time_s", "objects_placed", "max_joint_tracking_error_rad", "sim_steps"):
        assert swept[key] == direct[key], key
    # the rows carry the task's own metrics, whatever the task
    row = next(r for r in data["runs"] if r["seed"] == 1)
    assert row["metrics"]["objects_placed"] == 1 and row["metrics"]["cycle_time_s"] == direct["cycle_time_s"]


@pytest.mark.timeout(300)
def test_sweep_of_a_task_from_a_file(cli, tmp_path):
    """A lab's own task sweeps like a built-in one: its metrics in the rows, the table and the plot."""
    from pathlib import Path

    ref = f"{Path(__file__).parent / 'data' / 'lab_task.py'}:TouchPoint"
    r = cli(["sweep", ref, "--seeds", "0-1", "--grid", "params.hold_s=0.0,0.1", "--workers", "2",
             "--out", str(tmp_path / "sw")])
    assert r.exit_code == 0, r.output
    assert "closest mm" in r.stdout
    data = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert len(data["runs"]) == 4 and data["success_rate"] == 1.0
    assert all(row["metrics"]["closest_mm"] < 2.0 for row in data["runs"])
