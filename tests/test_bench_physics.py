"""The physics benchmark's own machinery (the benchmark itself is run by hand: benchmarks/bench_physics.py)."""

import numpy as np
import pytest

from officina.config import SimSettings
from officina.tasks.bench_physics import parse_seeds, run_one, sim_cell, variants


def test_seeds_parsed():
    assert parse_seeds("0-9") == list(range(10))
    assert parse_seeds("0,3,5") == [0, 3, 5]
    assert parse_seeds("2-3,7") == [2, 3, 7]
    for bad in ("x", "", "3-a", "-1"):
        with pytest.raises(ValueError, match="seeds"):
            parse_seeds(bad)


def test_default_variant_is_what_officina_run_uses():
    d = variants()["default"]
    s = SimSettings()
    assert (d.sim_dt, d.control_dt, d.solver_iterations) == (s.dt, s.control_dt, s.solver_iterations)
    pb = variants()["pybullet"]
    assert (pb.sim_dt, pb.control_dt, pb.solver_iterations, pb.solver_residual_threshold, pb.rigid_bodies) == (
        0.001, 0.001, 50, 1e-7, False)


def test_variant_cells_are_built_as_build_sim_cell_builds_them():
    """The benchmark's own cell builder (for variants build_sim_cell cannot make) gives the cell
    build_sim_cell gives, state for state, on the default settings."""
    v = variants()["default"]
    a, b = sim_cell("panda", 0, v), sim_cell("panda", 0, v, mirror=True)
    try:
        for sim in (a, b):
            q = sim.arm.read().position
            for k in range(200):
                sim.arm.command_positions(q + 0.2 * np.sin(0.01 * k))
                sim.world.step(sim.substeps)
        assert np.array_equal(a.arm.read().position, b.arm.read().position)
        for oa, ob in zip(a.scene.objects, b.scene.objects):
            assert np.array_equal(np.concatenate(a.world.object_pose(oa.body_id)),
                                  np.concatenate(b.world.object_pose(ob.body_id)))
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("args, match", [(["--seeds", "x"], "seeds"), (["--variants", "turbo"], "unknown variant"),
                                         (["--robots", "nobot"], "unknown robot")])
def test_bench_physics_bad_input_exits_2(cli, args, match):
    r = cli(["bench", "physics", *args])
    assert r.exit_code == 2
    assert match in r.stderr


def test_variants_set_rolling_friction_and_body_types():
    import pybullet as p

    for name, rolling, body_type in (("pybullet", 1e-4, 2), ("default", 0.0, 2), ("fast", 0.0, 1)):
        sim = sim_cell("ur5e", 0, variants()[name])
        try:
            cid, body = sim.world.client_id, sim.robot.body_id
            for j in sim.robot.spec.gripper.finger_joints:
                assert p.getDynamicsInfo(body, sim.robot.joint_index[j], physicsClientId=cid)[6] == pytest.approx(rolling)
            for o in sim.scene.objects:
                info = p.getDynamicsInfo(o.body_id, -1, physicsClientId=cid)
                assert info[6] == pytest.approx(rolling) and info[10] == body_type
        finally:
            sim.close()


def test_iteration_cap_variants_change_only_the_cap_and_reach_the_solver():
    from dataclasses import replace

    import pybullet as p

    table = variants()
    d = table["default"]
    assert table["iter30"] == replace(d, solver_iterations=30)
    assert table["iter20"] == replace(d, solver_iterations=20)
    assert table["iter20_2ms"] == replace(d, solver_iterations=20, sim_dt=0.002, control_dt=0.002)
    sim = sim_cell("panda", 0, table["iter20"])
    try:
        params = p.getPhysicsEngineParameters(physicsClientId=sim.world.client_id)
        assert params["numSolverIterations"] == 20
    finally:
        sim.close()


@pytest.mark.slow
def test_physics_phases_labels_an_episode_and_finds_the_held_part_dearer():
    """benchmarks/physics_phases.py --measure stats on the Panda, seed 0: every step of the
    episode gets a phase, the task succeeds as in a run, and the steps with a part between the
    fingers use more of the solver's iterations than the arm's free moves (what docs/physics.md
    reports)."""
    from officina.benchmarks.physics_phases import _summaries, measure_stats

    res = measure_stats("panda", 0, "default")
    assert res["metrics"]["success"] and res["metrics"]["safety_events_total"] == 0
    rows = _summaries(res["phases"])
    assert {"still", "move", "gripper", "carry", "episode"} <= set(rows)
    assert rows["episode"]["steps"] == res["metrics"]["sim_steps"]
    assert res["phases"]["raw"]["steps"] == 900
    for held in ("gripper", "carry"):
        assert rows[held]["iterations_mean"] > rows["move"]["iterations_mean"] + 5
        assert rows[held]["robot_contacts_mean"] > 1 > rows["move"]["robot_contacts_mean"]


def test_an_episode_at_a_4ms_step_places_everything_and_measures_its_tracking():
    """One pick-place episode of the ``step_4ms`` variant: every object placed with no safety
    event, and the same-instant tracking error measured on the commands the arm was sent."""
    r = run_one("panda", 0, variants()["step_4ms"])
    assert r["success"] and r["objects_placed"] == r["objects_total"] == 3
    assert r["safety_events_total"] == 0
    assert 0.0 < r["max_error_same_instant_rad"] < 1e-3
    assert r["max_joint_tracking_error_rad"] < 1e-2
