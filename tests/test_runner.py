"""The run machinery: crashes leave no metrics.json, pacing, config resolution order."""

import time

import numpy as np
import pytest

from officina.config import RunConfig
from officina.errors import JobFailed
from officina.runner import _Recorder, _TapArm, execute_run, resolve_config
from officina.tasks import TASKS


def test_crash_in_procedure_leaves_config_and_error_but_no_metrics(tmp_path, monkeypatch, cli):
    task = TASKS["pick-place"]

    def boom(cell, params):
        cell.tick()
        raise RuntimeError("gripper cable unplugged")

    monkeypatch.setattr(task, "procedure", boom)
    r = cli(["run", "pick-place", "--out", str(tmp_path / "run")])
    assert r.exit_code == 1
    assert "gripper cable unplugged" in r.stderr
    d = tmp_path / "run"
    assert (d / "config.yaml").is_file() and (d / "error.txt").is_file()
    assert not (d / "metrics.json").exists()
    assert not list(d.glob(".*.tmp"))


def test_precedence_defaults_file_flags_set(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("task: pick-place\nrobot: iiwa\nseed: 4\nparams: {n_objects: 2}\n")
    cfg = resolve_config(None, config_file=str(f))
    assert (cfg.robot, cfg.seed, cfg.params["n_objects"]) == ("iiwa", 4, 2)
    cfg = resolve_config(None, config_file=str(f), robot="ur5e", overrides=["params.n_objects=5", "seed=9"])
    assert (cfg.robot, cfg.seed, cfg.params["n_objects"]) == ("ur5e", 9, 5)
    # the resolved config carries every task parameter (defaults filled in)
    assert cfg.params["grasp_force_n"] == pytest.approx(25.0)
    assert cfg.params["objects"]["kinds"] == ["box", "cylinder"]


def test_realtime_pacing_follows_the_wall_clock():
    from officina.robots import load_robot
    from officina.sim.arm import SimArm
    from officina.sim.world import SimWorld

    w = SimWorld()
    try:
        h = w.load_robot(load_robot("panda"))
        arm = _TapArm(SimArm(w, h))
        cfg = RunConfig(task="pick-place", realtime=True)
        rec = _Recorder(w, arm, [], cfg)
        t0 = time.perf_counter()
        rec.wall0 = t0
        for _ in range(300):
            rec.tick()
        assert time.perf_counter() - t0 >= 0.29
        assert len(rec.t) == 300 // rec.log_every
        assert np.all(np.diff(rec.t) > 0)
    finally:
        w.close()


def test_interrupt_writes_no_metrics(tmp_path, monkeypatch):
    task = TASKS["pick-place"]

    def interrupted(cell, params):
        raise KeyboardInterrupt

    monkeypatch.setattr(task, "procedure", interrupted)
    cfg = resolve_config("pick-place")
    with pytest.raises(KeyboardInterrupt):
        execute_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert "interrupted" in (tmp_path / "run" / "error.txt").read_text()


def test_job_failed_type():
    assert issubclass(JobFailed, RuntimeError)
