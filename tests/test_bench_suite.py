"""`officina bench`: the common row shape, its verdicts, one table from several groups, the JSON
document and `bench compare` reading two of them back. The benchmarks' own figures are theirs to
check; here the groups are stand-ins except for `exo`, which takes seconds."""

from __future__ import annotations

import json

import pytest

from officina.benchmarks import Row, row
from officina.benchmarks.suite import GROUPS, compare, load_document, run_groups


def test_a_row_computes_its_ratio_and_verdict():
    r = row("loop", "us", 60.0, 40.0, baseline_name="raw step", goals=[("ratio", "<=", 1.5)])
    assert r.ratio == pytest.approx(1.5) and r.verdict == "met" and r.goal == "ratio <= 1.5"
    assert row("loop", "us", 61.0, 40.0, goals=[("ratio", "<=", 1.5)]).verdict == "missed"
    both = [("value", ">=", 99.0), ("ratio", ">=", 1.0)]
    assert row("success", "%", 99.5, 99.0, goals=both, better="higher").verdict == "met"
    assert row("success", "%", 99.5, 100.0, goals=both).verdict == "missed"  # below the baseline's
    assert row("success", "%", 98.0, 90.0, goals=both).verdict == "missed"  # below 99 %
    assert row("rate", "M/s", 2.0).verdict == "info" and row("rate", "M/s", 2.0).ratio is None
    missing = row("plan", "ms", float("nan"), 3.0, goals=[("ratio", "<=", 0.2)])
    assert missing.verdict == "n/a" and missing.value is None and missing.ratio is None


def _stand_in(group: str, slow: bool) -> list[Row]:
    if group == "ik":
        raise RuntimeError("TRAC-IK crashed")
    n = 2 if slow else 1
    return [row(f"{group} figure {i}", "ms", 10.0 * (i + 1), 20.0, goals=[("ratio", "<=", 1.0)]) for i in range(n)]


def test_groups_make_one_document_and_a_failing_group_does_not_hide_the_others():
    seen = []
    doc = run_groups(["sim", "ik", "exo"], slow=True, rows_of=_stand_in, on_group=lambda g, i, n: seen.append((g, i, n)))
    assert seen == [("sim", 0, 3), ("ik", 1, 3), ("exo", 2, 3)]
    assert [r["group"] for r in doc["rows"]] == ["sim", "sim", "ik", "exo", "exo"]
    failed = doc["rows"][2]
    assert failed["verdict"] == "n/a" and "TRAC-IK crashed" in failed["note"]
    assert set(doc["elapsed_s"]) == {"sim", "ik", "exo", "all"} and doc["slow"] is True
    assert json.loads(json.dumps(doc)) == doc  # plain JSON


def test_compare_says_what_moved_by_each_rows_direction(tmp_path):
    a = {"rows": [
        {"group": "sim", "name": "loop", "unit": "us", "value": 100.0, "better": "lower", "verdict": "met"},
        {"group": "exo", "name": "rate", "unit": "M/s", "value": 2.0, "better": "higher", "verdict": "met"},
        {"group": "ik", "name": "mean", "unit": "ms", "value": 1.0, "better": "lower", "verdict": "met"},
        {"group": "ros", "name": "gone", "unit": "ms", "value": 1.0, "better": "lower", "verdict": "info"},
    ]}
    b = {"rows": [
        {"group": "sim", "name": "loop", "unit": "us", "value": 130.0, "better": "lower", "verdict": "missed"},
        {"group": "exo", "name": "rate", "unit": "M/s", "value": 2.5, "better": "higher", "verdict": "met"},
        {"group": "ik", "name": "mean", "unit": "ms", "value": 1.05, "better": "lower", "verdict": "met"},
        {"group": "plan", "name": "new", "unit": "ms", "value": 3.0, "better": "lower", "verdict": "info"},
    ]}
    out = {(r["group"], r["name"]): r for r in compare(a, b, threshold_pct=10.0)}
    assert out["sim", "loop"]["moved"] == "worse" and out["sim", "loop"]["change_pct"] == pytest.approx(30.0)
    assert out["sim", "loop"]["verdict_b"] == "missed"
    assert out["exo", "rate"]["moved"] == "better"  # higher is better for a rate
    assert out["ik", "mean"]["moved"] == ""  # 5 %: within the threshold
    assert out["ros", "gone"]["moved"] == "gone" and out["plan", "new"]["moved"] == "new"


def test_bench_compare_cli(tmp_path, cli):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    rows_a = [{"group": "sim", "name": "loop", "unit": "us", "value": 100.0, "better": "lower", "verdict": "met"}]
    rows_b = [{**rows_a[0], "value": 150.0, "verdict": "missed"}]
    a.write_text(json.dumps({"commit": "aaa", "rows": rows_a}))
    b.write_text(json.dumps({"commit": "bbb", "rows": rows_b}))
    r = cli(["bench", "compare", a, b])
    assert r.exit_code == 0 and "worse" in r.stdout and "+50.0 %" in r.stdout and "1 worse" in r.stdout
    assert cli(["bench", "compare", a, b, "--fail-on-worse"]).exit_code == 1
    assert cli(["bench", "compare", a, a, "--fail-on-worse"]).exit_code == 0
    out = json.loads(cli(["bench", "compare", a, b, "--json"]).stdout)
    assert out["rows"][0]["moved"] == "worse"
    (tmp_path / "bad.json").write_text("[1, 2]")
    r = cli(["bench", "compare", a, tmp_path / "bad.json"])
    assert r.exit_code == 2 and "not an `officina bench --json` document" in r.stderr
    assert cli(["bench", "compare", a, tmp_path / "none.json"]).exit_code == 2
    with pytest.raises(ValueError, match="without group"):
        (tmp_path / "c.json").write_text(json.dumps({"rows": [{"value": 1}]}))
        load_document(tmp_path / "c.json")


def test_bench_exo_prints_one_table_and_its_json_compares(tmp_path, cli):
    """The one group fast enough to run for real here: its table, and its document."""
    r = cli(["bench", "exo"])
    assert r.exit_code == 0, r.output
    assert "L5/S1" in r.stdout and "naive Python loop" in r.stdout and "took" in r.stdout
    r = cli(["bench", "exo", "--json"])
    doc = json.loads(r.stdout)
    (exo,) = doc["rows"]
    assert exo["group"] == "exo" and exo["unit"] == "M/s" and exo["verdict"] in ("met", "missed")
    assert exo["value"] > exo["baseline"] > 0 and exo["ratio"] == pytest.approx(exo["value"] / exo["baseline"])
    (tmp_path / "a.json").write_text(r.stdout)
    assert cli(["bench", "compare", tmp_path / "a.json", tmp_path / "a.json"]).exit_code == 0


def test_every_group_has_a_command_and_a_rows_function(cli):
    import importlib

    from officina.cli import register_subcommands
    from typer.main import get_command

    names = set(get_command(register_subcommands()).commands["bench"].commands)
    assert set(GROUPS) | {"all", "compare", "control"} <= names
    for group, (module, _) in GROUPS.items():
        assert callable(importlib.import_module(f"officina.benchmarks.{module}").rows)
    assert cli(["bench", "all", "--skip", "nope"]).exit_code == 2


def test_the_sweep_group_reads_the_scaling_benchmarks_result():
    from officina.benchmarks.bench_sweep import rows_from_result

    res = {"task": "pick-place", "n_runs": 40, "overrides": [],
           "modes": {"loop": {"wall_s": 200.0, "wall_per_run_s": 5.0}, "dask1": {"wall_s": 210.0},
                     "dask2": {"wall_s": 105.0, "load_before": 1.5}},
           "efficiency_2_workers_vs_loop": 200.0 / 210.0, "dask_overhead_per_run_s": 0.25,
           "expected_efficiency_free_cores": 0.93, "efficiency_2_workers_vs_one_core_loop": 0.97,
           "expected_efficiency_free_cores_vs_loop": 0.81}
    wall, free, overhead = rows_from_result(res)
    assert wall.value == 105.0 and wall.baseline == 200.0 and wall.verdict == "met"  # 95 % efficiency
    assert "95 %" in wall.note and "load average 1.5" in wall.note
    assert "97 % against the loop on one core" in wall.note and "81 % against the plain loop" in free.note
    assert free.value == pytest.approx(93.0) and free.verdict == "met"
    assert overhead.value == 0.25 and overhead.verdict == "info" and overhead.ratio == pytest.approx(0.05)
    slower = {**res, "modes": {**res["modes"], "dask2": {"wall_s": 120.0}}, "efficiency_2_workers_vs_loop": 0.83}
    assert rows_from_result(slower)[0].verdict == "missed"
    # with the machine's ceiling (raw stepping, two processes at once vs one): the share of it reached
    ceil = {"steps": 5000, "repeats": 10, "efficiency_wall": 0.96, "efficiency_cpu": 0.98, "alone": {"load_before": 1.2}}
    with_pair = {**res, "modes": {**res["modes"], "pair": {"wall_s": 100.0}}}
    *_, dask_vs_pair, share = rows_from_result({**with_pair, "ceiling": ceil, "efficiency_2_workers_vs_1_worker": 0.84,
                                                "cpu_efficiency_2_workers_vs_1_worker": 0.86})
    assert dask_vs_pair.value == 105.0 and dask_vs_pair.ratio == pytest.approx(1.05) and dask_vs_pair.verdict == "info"
    assert share.value == pytest.approx(84.0) and share.baseline == pytest.approx(96.0)
    assert share.ratio == pytest.approx(0.84 / 0.96) and share.verdict == "info"
    assert "sweep 86 %, machine 98 %" in share.note and "10 x 5000 steps" in share.note


def test_the_sim_group_reports_wall_clock_and_cpu_time_figures_against_their_goals():
    """The loop against raw stepping, and pick-place's real-time factor and overhead share both
    by the wall clock (which the machine's load inflates) and by CPU time (which it does not)."""
    from officina.benchmarks.bench_sim import rows_from_result

    pp = {"success": True, "cycle_time_s": 24.9, "real_time_factor": 4.0, "process_real_time_factor": 3.0,
          "cpu_real_time_factor": 21.0, "overhead_share": 0.3, "overhead_share_cpu": 0.15,
          "process_wall_s": 8.3, "process_tree_cpu_s": 7.0, "phases": {"children_cpu_s": 1.0}}
    res = {"robot": "panda", "steps": 3000, "repeats": 3, "raw_step_us": 40.0, "hand_loop_step_us": 46.0,
           "loop_step_us": 56.0,
           "loop_without_state_log_step_us": 54.0, "loop_full_checks_step_us": 90.0,
           "loop_without_safety_filter_step_us": 50.0, "raw_real_time_factor": 25.0, "pick_place": pp,
           "pick_place_4ms": {**pp, "cpu_real_time_factor": 19.0, "cycle_time_s": 25.3}, "load_average": 3.0}
    by = {r.name: r for r in rows_from_result(res)}
    assert by["control period, loop as run (panda)"].ratio == pytest.approx(1.4)
    assert by["control period, loop as run (panda)"].verdict == "met"
    assert by["control period, loop as run vs a hand-written loop (panda)"].baseline == 46.0
    cpu = by["pick-place real-time factor, CPU time (panda)"]
    assert cpu.verdict == "met" and cpu.baseline == 25.0 and cpu.ratio == pytest.approx(21.0 / 25.0)
    assert by["pick-place real-time factor, wall clock (panda)"].verdict == "missed"
    at_4ms = by["pick-place real-time factor at a 4 ms step, CPU time (panda)"]
    assert at_4ms.verdict == "missed" and at_4ms.baseline == 21.0 and "cycle 25.3 s" in at_4ms.note
    assert "load average 3.0" in by["pick-place real-time factor, wall clock (panda)"].note
    assert by["pick-place start-up and run folder share, CPU time (panda)"].verdict == "info"  # the goal is wall
    assert by["pick-place start-up and run folder share, wall clock (panda)"].verdict == "missed"


@pytest.mark.timeout(300)
def test_the_sim_benchmark_runs_every_loop_it_compares():
    """Each loop `bench sim` times runs on the pick-place cell (a few periods each): raw stepping,
    the hand-written loop, and the run loop as run, without the log, with the filter's full checks
    and without the filter, the last four following the trajectory without a safety event."""
    from officina.tasks.bench import bench_hand, bench_loop, bench_raw

    assert bench_raw("panda", 20) > 0 and bench_hand("panda", 20) > 0
    for mode in ("run", "nolog", "full", "bare"):
        per_period, events = bench_loop("panda", 50, 0, mode)
        assert per_period > 0 and events == 0, mode


@pytest.mark.timeout(180)
def test_the_sweeps_ceiling_steps_the_world_in_one_process_then_two_at_once():
    """The machine's parallel efficiency for the physics (bench_sweep's ceiling): raw stepping of
    the pick-place world in one process alone, then in two at once, a few steps each."""
    from officina.benchmarks.bench_sweep import ceiling

    c = ceiling(steps=200, repeats=2)
    assert c["alone"]["processes"] == 1 and c["two"]["processes"] == 2
    for m in (c["alone"], c["two"]):
        assert m["wall_s"] > 0 and m["cpu_s"] > 0 and m["cpu_per_step_us"] > 0
    assert c["two"]["cpu_s"] > c["alone"]["cpu_s"]  # twice the steps
    assert c["efficiency_wall"] == pytest.approx(c["alone"]["wall_s"] / c["two"]["wall_s"])
    assert c["efficiency_cpu"] == pytest.approx(c["alone"]["cpu_per_step_us"] / c["two"]["cpu_per_step_us"])
