"""palletizing: the pattern as data, the robots it refuses, the metrics from ground truth, runs on
the ur10e and the irb2600, determinism, the manual job and `officina compare`."""

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from officina.runner import WALL_CLOCK_FIELDS, execute_run, resolve_config
from officina.controllers.model import RobotModel
from officina.robots import load_robot
from officina.tasks.palletizing import (
    EUR_PALLET_M, Palletizing, PalletizingParams, pallet_plan, same_branch, support_ratios,
)

# three places of one layer, stacked in columns two high: both layers in six cartons
SMALL = ["params.pattern.kind=column", "params.pattern.layout=[[-0.5, -0.2, 90], [-0.3, -0.2, 90], [0.4, -0.3, 0]]"]


def _run(tmp_path, name, robot="ur10e", seed=0, overrides=()):
    cfg = resolve_config("palletizing", robot=robot, seed=seed, overrides=list(overrides) + ["log.plots=false"])
    return execute_run(cfg, tmp_path / name)


# --- the pattern as data -----------------------------------------------------------------------------
def test_default_pattern_is_two_interlocked_layers_of_twelve():
    p = PalletizingParams()
    plan = pallet_plan(p)
    assert len(plan) == 24 and [t.layer for t in plan] == [0] * 12 + [1] * 12
    L, W, H = p.carton.size_m
    deck_top = p.floor_z + EUR_PALLET_M[2]
    for t in plan:
        assert t.position[2] == pytest.approx(deck_top + (t.layer + 0.5) * H)
        assert abs(t.xy_pallet[0]) <= 0.6 and abs(t.xy_pallet[1]) <= 0.4
    # interlocked: the second layer is the first mirrored about the pallet's y axis, so that the
    # strip of cartons along the pallet moves to the other end
    a = sorted((round(t.xy_pallet[0], 6), round(t.xy_pallet[1], 6)) for t in plan if t.layer == 0)
    b = sorted((round(-t.xy_pallet[0], 6), round(t.xy_pallet[1], 6)) for t in plan if t.layer == 1)
    assert a == b and a != sorted((round(t.xy_pallet[0], 6), round(t.xy_pallet[1], 6)) for t in plan if t.layer == 1)
    # every carton of the first layer is on the deck; the second layer's are >= 75 % supported
    assert all(t.support_ratio == 1.0 for t in plan if t.layer == 0)
    assert min(t.support_ratio for t in plan if t.layer == 1) == pytest.approx(1 - 0.01 / 0.39, abs=1e-3)
    # far places first in each layer (the arm never reaches over cartons it just set down)
    d = [math.hypot(*t.position[:2]) for t in plan[:12]]
    assert d == sorted(d, reverse=True)
    # the column pattern repeats the first layer
    col = pallet_plan(PalletizingParams(pattern={"kind": "column"}))
    assert [t.xy_pallet for t in col[12:]] == [t.xy_pallet for t in col[:12]]
    assert all(t.support_ratio == 1.0 for t in col)


def test_support_ratio_of_overlapping_footprints():
    from shapely.geometry import box

    size = (0.4, 0.2, 0.2)
    deck = box(-0.6, -0.4, 0.6, 0.4)
    # a carton half over the one below, one on the deck with half of it beyond the deck's edge
    r = support_ratios([(0.0, 0.0, 0.0, 0.0), (0.2, 0.0, 0.2, 0.0), (0.6, 0.3, 0.0, 0.0)], size, deck)
    assert r == pytest.approx([1.0, 0.5, 0.5])
    # turned a quarter: a 0.2 x 0.2 square of its 0.2 x 0.4 footprint lies on the carton below
    assert support_ratios([(0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.2, math.pi / 2)], size, deck)[1] == pytest.approx(0.5)


@pytest.mark.parametrize("pattern, message", [
    ({"layout": [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]]}, "overlap"),
    ({"layout": [[0.45, 0.0, 0.0]]}, "overhangs the pallet"),
    ({"layout": [[-0.3, 0.0, 0.0]], "interlock": "rotate"}, "supported; expected at least 75 %"),
])
def test_pattern_refused_with_one_line(pattern, message):
    with pytest.raises(ValidationError, match=message):
        PalletizingParams(pattern=pattern)


def test_cli_refuses_bad_patterns_robots_and_cartons(cli):
    r = cli(["run", "palletizing", "--robot", "ur10e", "--set",
             "params.pattern.layout=[[-0.3, 0.0, 0.0]]", "--set", "params.pattern.interlock=rotate"])
    assert r.exit_code == 2 and "75 %" in r.stderr
    for robot in ("panda", "iiwa", "ur5e"):
        r = cli(["run", "palletizing", "--robot", robot])
        assert r.exit_code == 2 and "palletizing needs a vacuum gripper" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    r = cli(["run", "palletizing", "--robot", "ur10e", "--set", "params.carton.mass_kg=[20, 30]"])
    assert r.exit_code == 2 and "safety factor" in r.stderr


# --- the metrics are real (ground truth, no robot) -----------------------------------------------------
def test_metrics_see_a_misplaced_and_a_moved_carton():
    """Cartons put where the pattern wants them by hand are placed and stable; one pushed by 1 cm
    after it came to rest makes the stack unstable; one 3 cm off its place is not placed."""
    from officina.sim.world import SimWorld

    task = Palletizing()
    params = PalletizingParams(pattern={"kind": "column", "layout": [[-0.5, -0.2, 90], [-0.3, -0.2, 90]]})
    with SimWorld() as w:
        scene = task.build_scene(w, params, np.random.default_rng(0))
        for i, (obj, tgt) in enumerate(zip(scene.objects, scene.targets)):
            off = np.array([0.03, 0.0, 0.0]) if i == 3 else 0.0
            w.set_object_pose(obj.body_id, tgt.position + off + [0, 0, 0.002], tgt.quat)
            w.step(300)
            scene.release_t[i] = 1.0 + i
            scene.rest_pose[i] = w.object_pose(obj.body_id)
            scene.state[i] = "rest"
        m = task.metrics(w, scene, params)
        assert m["boxes_placed"] == 3 and m["boxes_total"] == 4 and not m["success"]
        assert m["stack_stable"] and m["max_shift_mm"] < 1.0
        assert m["placement_error_mm"][3] == pytest.approx(30.0, abs=2.0) and max(m["placement_error_mm"][:3]) < 3.0
        # turned a quarter, its 0.19 m side lies along x: 16 of its 19 cm stay on the carton below
        assert m["support_ratio_min"] == pytest.approx((0.19 - 0.03) / 0.19, abs=0.01)
        assert m["boxes_per_min"] == pytest.approx(60.0)  # a release every second
        top = scene.objects[2]
        pos, quat = w.object_pose(top.body_id)
        w.set_object_pose(top.body_id, pos + [0.0, 0.01, 0.0], quat)
        w.step(100)
        m = task.metrics(w, scene, params)
        assert not m["stack_stable"] and 9.0 < m["max_shift_mm"] < 11.0


# --- runs ------------------------------------------------------------------------------------------------
@pytest.mark.timeout(900)  # two runs of about 20 s each on a free core; a hang guard, not a speed check
def test_two_cartons_on_the_ur10e_deterministic(tmp_path):
    runs = [_run(tmp_path, f"run{i}", overrides=["params.n_boxes=2"]) for i in range(2)]
    m = runs[0].metrics
    assert m["success"] and m["boxes_placed"] == 2, m
    assert max(m["placement_error_mm"]) < 10.0 and m["stack_stable"] and m["support_ratio_min"] == 1.0
    assert m["boxes_per_min"] > 6.0 and m["protective_stops"] == 0 and m["safety_events_total"] == 0
    assert m["max_tcp_speed_m_s"] <= 1.0 + 0.03  # the collaborative tool speed
    events = [e["event"] for e in json.loads((runs[0].run_dir / "events.json").read_text())]
    assert events == ["arrived", "picked", "placed"] * 2
    stable = [{k: v for k, v in r.metrics.items() if k not in WALL_CLOCK_FIELDS} for r in runs]
    assert stable[0] == stable[1]


@pytest.mark.slow
@pytest.mark.timeout(900)  # about a minute on a free core; the guard against a hang, not a speed check
# The UR10e's seed 1 stacks the whole default pallet in the test below.
@pytest.mark.parametrize("robot, seed", [("ur10e", 2), ("irb2600", 1), ("irb2600", 2)])
def test_two_layers_succeed(tmp_path, robot, seed):
    m = _run(tmp_path, "run", robot, seed, SMALL).metrics
    assert m["success"], m
    assert m["boxes_placed"] == 6 and m["stack_stable"] and m["support_ratio_min"] >= 0.75
    assert m["placement_error_max_mm"] < 10.0 and m["protective_stops"] == 0
    # this partial layout's places are slower to reach than the default pattern's (ur10e seed 1: 5.2/min)
    assert m["boxes_per_min"] >= 4.5


@pytest.mark.slow
def test_no_carton_arrives_the_procedure_fails(tmp_path):
    """The camera is the station's light barrier: with the infeed stopped after the first carton the
    procedure waits its timeout and fails (exit 1 from the CLI), with the first carton placed."""
    m = _run(tmp_path, "run", overrides=["params.n_boxes=2", "params.infeed_gap_s=[60, 60]",
                                         "params.wait_timeout_s=8"]).metrics
    assert not m["success"] and not m["procedure_completed"]
    assert "no carton at the station" in m["procedure_message"]
    assert m["placement_error_mm"][0] < 10.0 and m["placement_error_mm"][1] is None


def test_same_branch_tells_a_reconfiguration_of_the_ur10e():
    """The arm over the pick station against configurations at the pallet: the usual one (the base
    turned, the same elbow and wrist) is on its branch; an elbow flip, a wrist flip, and a shoulder
    with an elbow flip (the determinant's sign kept, a joint turning more than a half turn) are not."""
    m = RobotModel.from_spec(load_robot("ur10e"))
    station = [2.93, -1.35, 1.95, -2.17, -1.57, -1.79]
    assert same_branch(m, station, [2.09, -1.71, 2.32, -2.19, -1.57, -2.62])
    assert not same_branch(m, station, [-1.4, -1.7, -2.06, 2.19, 4.71, -1.4])  # elbow flip (and pan)
    assert not same_branch(m, [2.87, -1.35, 1.94, -2.16, -1.57, 4.42], [1.25, -0.83, 1.14, -5.02, -4.71, 4.39])
    assert not same_branch(m, [0.47, -1.42, 2.12, -2.27, -1.57, -2.67], [0.26, -2.17, -1.47, -4.22, -1.57, -1.33])


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about three minutes on a free core; a hang guard, not a speed check
def test_ur10e_seed_1_stacks_the_pallet_without_a_stop(tmp_path):
    """UR10e seed 1, the default pallet: its eleventh carton goes next to the arm's base, where at
    the travel height the carried carton meets the upper arm on the arm's branch. The move stays on
    the branch instead of a reconfiguration that swings the carton through the singular poses
    stretched up over the base, where its weight, unknown to the contact monitor, reads as more
    than the 150 N protective stop. (The whole pallet: fewer cartons change the seeded stream.)"""
    m = _run(tmp_path, "run", "ur10e", 1).metrics
    assert m["success"], m
    assert m["boxes_placed"] == 24 and m["protective_stops"] == 0 and m["safety_events_total"] == 0
    assert m["stack_stable"] and m["boxes_per_min"] >= 6.0


# --- the manual job ------------------------------------------------------------------------------------------
def test_manual_job_one_lift_kind_per_layer():
    p = PalletizingParams()
    job = Palletizing().manual_job(p)
    assert [m.name for m in job.moves] == ["carton to layer 1", "carton to layer 2"]
    assert job.lifts_per_cycle == 24
    L, W, H = p.carton.size_m
    for k, mv in enumerate(job.moves):
        assert mv.load_kg == 6.0 and mv.mean_kg == 4.5 and mv.coupling == "fair" and mv.count_per_cycle == 12
        assert mv.origin.v_m == pytest.approx(p.belt_z - p.floor_z + H / 2)
        assert mv.destination.v_m == pytest.approx(EUR_PALLET_M[2] + (k + 0.5) * H)
        assert 0.15 < mv.destination.h_m <= 0.63 and mv.carry_m > 0.5


@pytest.mark.slow
def test_compare_palletizing_ur10e_prints_the_table(cli, tmp_path):
    r = cli(["compare", "palletizing", "--robot", "ur10e", "--set", "params.n_boxes=2", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    for label in ("palletizing: robot versus worker", "lifting index CLI", "L5/S1 compress. N", "+spexor",
                  "items per hour"):
        assert label in r.stdout
    out = json.loads((tmp_path / "compare.json").read_text())
    assert out["task"] == "palletizing" and out["robot"]["success"] and out["robot"]["items_per_cycle"] == 2
    assert [m["name"] for m in out["job"]["moves"]] == ["carton to layer 1"]
