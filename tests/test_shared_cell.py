"""shared-cell: pick-place while people walk; speed and separation monitoring through the scanner."""

import json

import pytest

from officina.runner import WALL_CLOCK_FIELDS, execute_run, resolve_config
from officina.statelog import read_topic_counts


def _run(tmp_path, name, robot="panda", seed=0, overrides=(), **kw):
    cfg = resolve_config("shared-cell", robot=robot, seed=seed, overrides=list(overrides), **kw)
    return execute_run(cfg, tmp_path / name)


def _stable(metrics):
    return {k: v for k, v in metrics.items() if k not in WALL_CLOCK_FIELDS}


# one person, from outside the cell (5 m behind the robot), runs straight at the arm at 1.6 m/s
# while it works, stays 2 s at the table's edge and leaves
RUN_AT_THE_ARM = ["params.n_objects=1", "params.people=0", "params.approach_bearings_deg=[180.0]",
                  "params.approach_start_s=1.0"]


def test_a_person_running_straight_at_the_arm_stops_it_without_a_violation(tmp_path):
    res = _run(tmp_path, "run", overrides=RUN_AT_THE_ARM)
    m = res.metrics
    assert m["success"], m
    assert m["separation_violations"] == 0
    assert m["ssm_stops"] >= 1
    # the monitor's stops are the arm's speed override stops; `protective_stops` counts the stops
    # on contact only, and the arm touched nobody
    assert m["safety_events"].get("speed_override_stop") == m["ssm_stops"]
    assert m["protective_stops"] == 0 and "protective_stop" not in m["safety_events"]
    assert m["min_margin_m"] > 0
    # the person came well inside the protective separation distance (while the arm stood still)
    assert m["min_separation_m"] < 1.0
    assert m["cycle_time_lost_pct"] > 0
    d = res.run_dir
    assert (d / "separation.png").stat().st_size > 0
    counts = read_topic_counts(d / "state.mcap")
    for topic in ("/signals/separation_m", "/signals/protective_separation_m", "/signals/person0_x_m",
                  "/signals/speed_override", "/ground_truth/object_poses"):
        assert counts.get(topic, 0) > 10, topic
    events = [e["event"] for e in json.loads((d / "events.json").read_text())]
    assert "ssm_stop" in events and "ssm_resume" in events


def test_the_time_lost_is_the_logged_override_over_the_periods_it_was_in_force():
    """The time lost to the override, against what the log shows: the override logged at the end of
    every control period (``signal_hz`` = the control rate) is the one in force over that period,
    so the time lost is the sum of (1 - logged override) x dt, the first period included. A person
    is seen 4.5 m away from t = 0 (scanner range 6 m) with C = 3 m: the override is below 1 from
    the first period on and falls as they walk up."""
    import numpy as np

    from officina.controllers.safety import SafetyConfig
    from officina.robots import load_robot
    from officina.tasks.base import ProcedureOutcome
    from officina.tasks.runtime import build_sim_cell, run_episode
    from officina.tasks.shared_cell import SharedCell, SharedCellParams

    periods = 300

    class Standing(SharedCell):
        def procedure(self, cell, params):
            for _ in range(periods):
                cell.tick()
            return ProcedureOutcome(True)

    params = SharedCellParams(n_objects=1, people=0, approach_bearings_deg=[180.0], approach_start_s=0.0,
                              scanner_range_m=6.0, intrusion_m=3.0, signal_hz=1000.0)
    sim = build_sim_cell(Standing(), params, load_robot("panda"), rng=np.random.default_rng(0))
    try:
        ep = run_episode(sim, SafetyConfig())
        logged = ep.record.signals["speed_override"]
        assert len(logged) == periods
        assert 0.0 < logged[0][1] < 1.0 and logged[-1][1] < logged[0][1]
        expected = sum((1.0 - v) * sim.control_dt for _, v in logged)
        assert sim.scene.lost_s == pytest.approx(expected, rel=1e-9)
        cycle = ep.metrics["cycle_time_s"]
        assert ep.metrics["cycle_time_lost_pct"] == round(100.0 * expected / (cycle - expected), 2)
    finally:
        sim.close()


def test_without_the_monitor_the_same_run_violates_the_separation(tmp_path):
    m = _run(tmp_path, "off", overrides=RUN_AT_THE_ARM + ["params.monitor=false"]).metrics
    assert m["separation_violations"] > 0
    assert m["min_margin_m"] < 0
    assert m["ssm_stops"] >= 1  # the monitor saw it, but nothing acted on its output
    # every object was placed, but not safely: the run is no success
    assert m["objects_placed"] == m["objects_total"]
    assert m["success"] is False


def test_shared_cell_refuses_a_robot_without_a_parallel_gripper(tmp_path):
    from officina.errors import BadInput

    with pytest.raises((BadInput, ValueError), match="parallel gripper"):
        _run(tmp_path, "x", robot="ur10e", overrides=["params.people=0"])


@pytest.mark.slow
@pytest.mark.parametrize("robot", ["panda", "iiwa", "ur5e"])
@pytest.mark.parametrize("seed", [0])
def test_zero_violations_with_people_walking(tmp_path, robot, seed):
    m = _run(tmp_path, "run", robot, seed, overrides=["params.n_objects=2"]).metrics
    assert m["success"], m
    assert m["people"] == 3
    assert m["separation_violations"] == 0, m
    assert m["min_margin_m"] is None or m["min_margin_m"] > 0


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path):
    a = _run(tmp_path, "a", overrides=["params.n_objects=1"]).metrics
    b = _run(tmp_path, "b", overrides=["params.n_objects=1"]).metrics
    assert _stable(a) == _stable(b)


def test_the_reaction_time_counts_the_control_period_the_cell_runs_at():
    """T_r holds two control periods of the monitor's cycle (at least 5 ms each): the control
    period the cell runs at, not the physics step."""
    import numpy as np

    from officina.robots import load_robot
    from officina.tasks import get_task
    from officina.tasks.runtime import build_sim_cell

    task = get_task("shared-cell")
    params = task.Params(people=0)
    t_r = {}
    for control_dt in (0.001, 0.02):
        cell = build_sim_cell(task, params, load_robot("panda"), rng=np.random.default_rng(0),
                              control_dt=control_dt, sim_dt=0.001)
        try:
            t_r[control_dt] = cell.scene.ssm.reaction_time_s
        finally:
            cell.world.close()
    # 2 x 5 ms at 1 ms control (the floor), 2 x 20 ms at 50 Hz control
    assert t_r[0.02] - t_r[0.001] == pytest.approx(2 * (0.02 - 0.005))
