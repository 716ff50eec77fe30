"""`officina sweep`: seeds x grid through Dask (LocalCluster); bad input refused before anything
starts; a results table that grows as runs finish; failed runs and dead worker processes recorded
with their reason; resuming a sweep in its folder."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from officina.errors import BadInput
from officina.sweep import parse_grid, parse_seeds

DATA = Path(__file__).parent / "data"
CRASH = f"{DATA / 'crash_task.py'}:CrashTask"


def test_parse_seeds_and_grid():
    assert parse_seeds("0-3,7,2") == [0, 1, 2, 3, 7]
    assert parse_grid(["params.n_objects=1,3", "robot=panda,ur5e"]) == {
        "params.n_objects": [1, 3], "robot": ["panda", "ur5e"]}
    assert parse_grid(["params.point_xyz=[[0.4, 0.1, 0.2], [0.5, 0, 0.3]]"]) == {
        "params.point_xyz": [[0.4, 0.1, 0.2], [0.5, 0, 0.3]]}
    for bad in ("5-2", "a", "", "-1"):
        with pytest.raises(BadInput):
            parse_seeds(bad)
    with pytest.raises(BadInput, match="KEY=V1,V2"):
        parse_grid(["params.n_objects"])
    with pytest.raises(BadInput, match="YAML"):
        parse_grid(["params.point_xyz=[0.4, 0.1"])
    with pytest.raises(BadInput, match="given twice"):
        parse_grid(["robot=panda", "robot=ur5e"])


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


@pytest.mark.timeout(120)
def test_sweep_workers_carry_no_per_run_extras_and_one_thread_per_library():
    """The sweep's LocalCluster: its workers run with one OpenMP/BLAS thread, glibc's own malloc
    trimming (Dask's default trim threshold turns every large NumPy array into an mmap that
    page-faults), no statistical profiler, no memory polling of their own (their nannies keep
    the memory limit) and a slow event-loop tick: the worker's other threads seldom take the GIL
    from the run; and they are warmed up as they start (imports and the state log's serializers)."""
    from officina.sweep import dask_worker_config, local_cluster

    cfg = dask_worker_config()
    assert cfg["distributed.worker.profile.enabled"] is False
    assert cfg["distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"] is None

    def state(dask_worker):
        import os
        import sys

        from officina import statelog

        return {"env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                        "MALLOC_TRIM_THRESHOLD_")},
                "callbacks": {k: pc.callback_time for k, pc in dask_worker.periodic_callbacks.items()},
                "nthreads": dask_worker.state.nthreads,
                "warm": [m for m in ("officina.plots", "officina.tasks.runtime", "matplotlib.figure", "pinocchio")
                         if m in sys.modules] + (["state log"] if statelog._STORE is not None else [])}

    client, cluster = local_cluster(2, 5)
    try:
        states = list(client.run(state).values())
        nannies = list(cluster.workers.values())
        assert len(nannies) == 2 and all("memory_monitor" in n.periodic_callbacks for n in nannies)
        assert all(n.periodic_callbacks["memory_monitor"].callback_time >= 500 for n in nannies)  # ms
    finally:
        client.close()
        cluster.close()
    assert len(states) == 2
    for st in states:
        assert st["nthreads"] == 1
        assert st["env"]["OMP_NUM_THREADS"] == st["env"]["OPENBLAS_NUM_THREADS"] == st["env"]["MKL_NUM_THREADS"] == "1"
        assert st["env"]["MALLOC_TRIM_THRESHOLD_"] == os.environ.get("MALLOC_TRIM_THRESHOLD_")
        assert "profile" not in st["callbacks"] and "profile-cycle" not in st["callbacks"]
        assert st["callbacks"]["tick"] >= 1000 and st["callbacks"]["monitor"] >= 2000  # ms
        assert "memory_monitor" not in st["callbacks"]  # the nanny watches the memory limit
        # warmed as it started (the preload officina.sweep.dask_setup): its first run does not import
        assert st["warm"] == ["officina.plots", "officina.tasks.runtime", "matplotlib.figure", "pinocchio", "state log"]


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
    # the results table: one row per run, the task's metrics as columns, in CSV and Parquet
    from officina.results import read_table

    table = {t["run"]: t for t in read_table(tmp_path / "sw" / "results.csv")}
    assert set(table) == {"seed0", "seed1"} and table["seed1"]["status"] == "ok"
    assert float(table["seed1"]["cycle_time_s"]) == direct["cycle_time_s"]
    assert int(table["seed1"]["objects_placed"]) == 1 and table["seed1"]["success"] == "true"
    assert float(table["seed1"]["cpu_s"]) > 0 and table["seed1"]["error"] == ""
    # the state log is encoded in the worker's run thread (log.writer "auto"): no writer process
    assert float(table["seed1"]["children_cpu_s"]) == 0
    assert (tmp_path / "sw" / "seed1" / "state.mcap").read_bytes().endswith(b"\x89MCAP0\r\n")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = {r["run"]: r for r in pq.read_table(tmp_path / "sw" / "results.parquet").to_pylist()}
    assert rows["seed1"]["cycle_time_s"] == direct["cycle_time_s"] and rows["seed1"]["success"] is True
    assert rows["seed1"]["objects_placed"] == 1 and rows["seed0"]["seed"] == 0
    # the summary per grid point: a Wilson interval for the success rate, a t interval for the means
    (point,) = data["summary"]
    assert point["runs"] == 2 and point["success"]["value"] == 1.0
    assert 0.0 < point["success"]["low"] < 1.0 and point["success"]["high"] == pytest.approx(1.0)
    ct = point["metrics"]["cycle_time_s"]
    assert ct["n"] == 2 and ct["low"] <= ct["value"] <= ct["high"]


@pytest.mark.timeout(300)
def test_sweep_of_a_task_from_a_file(cli, tmp_path):
    """A lab's own task sweeps like a built-in one: its metrics in the rows, the table and the plot."""
    ref = f"{DATA / 'lab_task.py'}:TouchPoint"
    r = cli(["sweep", ref, "--seeds", "0-1", "--grid", "params.hold_s=0.0,0.1", "--workers", "2",
             "--out", str(tmp_path / "sw")])
    assert r.exit_code == 0, r.output
    assert "closest mm" in r.stdout
    data = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert len(data["runs"]) == 4 and data["success_rate"] == 1.0
    assert all(row["metrics"]["closest_mm"] < 2.0 for row in data["runs"])
    # not on a terminal: one plain line per finished run, with the count, failures and an ETA
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("[")]
    assert len(lines) == 4 and lines[-1].startswith("[4/4]") and "failed 0" in lines[-1] and "eta" in lines[-1]


@pytest.mark.timeout(300)
def test_failed_runs_and_dead_workers_are_recorded_and_the_sweep_goes_on(cli, tmp_path):
    out = tmp_path / "sw"
    args = ["sweep", CRASH, "--seeds", "0", "--grid", "params.crash=none,raise,exit,sigkill,segfault",
            "--workers", "2", "--out", str(out)]
    r = cli(args)
    assert r.exit_code == 1, r.output  # some runs failed
    data = json.loads((out / "sweep.json").read_text())
    runs = {row["grid"]["params.crash"]: row for row in data["runs"]}
    assert runs["none"]["status"] == "ok" and runs["none"]["success"] and runs["none"]["metrics"]["ticks"] == 10
    reasons = {k: runs[k]["error"] for k in ("raise", "exit", "sigkill", "segfault")}
    assert all(runs[k]["status"] == "failed" and not runs[k]["success"] for k in reasons)
    assert "RuntimeError: the gripper driver lost its connection" in reasons["raise"]
    assert "exited with status 3" in reasons["exit"]
    assert "killed by SIGKILL" in reasons["sigkill"]
    assert "Segmentation fault" in reasons["segfault"] and "string_at" in reasons["segfault"]
    # each crash cost one attempt; every failed run folder holds its config and its error
    assert all(row["attempt"] == 1 for row in data["runs"])
    for k in reasons:
        d = out / runs[k]["run_dir"]
        assert (d / "config.yaml").is_file() and not (d / "metrics.json").exists()
        assert reasons[k].split(" (")[0] in (d / "error.txt").read_text()
    assert "Fatal Python error: Segmentation fault" in (out / runs["segfault"]["run_dir"] / "error.txt").read_text()
    assert data["summary"][1]["failed"] == 1 and data["summary"][0]["failed"] == 0

    # the same command again: everything is done, nothing runs
    r = cli(args)
    assert r.exit_code == 1 and "0 to run, 5 already done (4 failed kept" in r.stderr
    # --resume with --retry-failed reruns the failed runs only (they fail again)
    r = cli(["sweep", "--resume", str(out), "--retry-failed", "--workers", "2"])
    assert r.exit_code == 1 and "4 to run, 1 already done" in r.stderr
    data = json.loads((out / "sweep.json").read_text())
    assert {row["grid"]["params.crash"]: row["attempt"] for row in data["runs"]} == {
        "none": 1, "raise": 2, "exit": 2, "sigkill": 2, "segfault": 2}
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 5  # a row per run, not per attempt
    assert sorted(p.name for p in (out / ".officina" / "previous").iterdir()) == [
        f"crash{k}-seed0-1" for k in ("exit", "raise", "segfault", "sigkill")]

    # a different sweep into the same folder is refused, and so is --resume with a plan of its own
    r = cli(["sweep", CRASH, "--seeds", "0-1", "--grid", "params.crash=none", "--out", str(out)])
    assert r.exit_code == 2 and "holds another sweep" in r.stderr and "seeds" in r.stderr
    r = cli(["sweep", "--resume", str(out), "--seeds", "3"])
    assert r.exit_code == 2 and "drop --seeds" in r.stderr
    r = cli(["sweep", "--resume", str(tmp_path)])
    assert r.exit_code == 2 and "holds no sweep.yaml" in r.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_sweep_killed_half_way_keeps_its_rows_and_resumes(tmp_path):
    """SIGKILL to the whole sweep (client and workers) after two runs: the table keeps them; the
    resumed sweep runs only the others, and sets aside what the interrupted run left."""
    out = tmp_path / "sw"
    officina = Path(sys.executable).with_name("officina")
    cmd = [str(officina), "sweep", CRASH, "--seeds", "0-5", "--set", "params.wall_s=1.5", "--workers", "1",
           "--out", str(out)]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline:
            csv = out / "results.csv"
            if csv.is_file() and len(csv.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the sweep did not finish two runs")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    done = [ln.split(",")[0] for ln in (out / "results.csv").read_text().splitlines()[1:]]
    assert 2 <= len(done) < 6 and not (out / "sweep.json").exists()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr
    assert f"{6 - len(done)} to run, {len(done)} already done" in r.stderr
    data = json.loads((out / "sweep.json").read_text())
    assert len(data["runs"]) == 6 and all(row["status"] == "ok" for row in data["runs"])
    assert all(row["attempt"] == 1 for row in data["runs"] if row["name"] in done)
    assert all((out / f"seed{s}" / "metrics.json").is_file() for s in range(6))


def test_results_journal_appends_rows_and_keeps_the_latest_attempt(tmp_path, monkeypatch):
    from officina import results
    from officina.results import ResultsJournal, read_table

    monkeypatch.setattr(results, "parquet_available", lambda: False)  # CSV only, as without pyarrow
    j = ResultsJournal(tmp_path, leading=["run", "status", "seed"])
    j.append({"run": "a", "status": "ok", "seed": 0, "x_m": 1.5, "ok": True})
    j.append({"run": "b", "status": "failed", "seed": 1, "error": "boom"})  # a new column: rewritten
    j.append({"run": "c", "status": "ok", "seed": 2, "x_m": 2.5})  # appended
    assert [r["run"] for r in read_table(tmp_path / "results.csv")] == ["a", "b", "c"]
    j.append({"run": "b", "status": "ok", "seed": 1, "x_m": 0.5})  # a rerun replaces its row
    rows = {r["run"]: r for r in read_table(tmp_path / "results.csv")}
    assert len(rows) == 3 and rows["b"]["status"] == "ok" and rows["b"]["error"] == "" and rows["a"]["ok"] == "true"
    assert not (tmp_path / "results.parquet").exists()
    # a line torn by a kill is skipped when the journal is read back
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"run": "d", "stat')
    j2 = ResultsJournal(tmp_path)
    assert set(j2.latest()) == {"a", "b", "c"} and j2.attempts("b") == 2


def test_the_parquet_table_is_rewritten_at_most_every_few_seconds_and_at_the_end(tmp_path):
    """results.parquet cannot be appended to: it is rewritten whole when a new column comes, at most
    every ``parquet_every_s`` otherwise, and brought up to date by `flush` (the sweep's end)."""
    pq = pytest.importorskip("pyarrow.parquet")
    from officina.results import ResultsJournal

    j = ResultsJournal(tmp_path, leading=["run", "status", "seed"], parquet_every_s=3600.0)
    j.append({"run": "a", "status": "ok", "seed": 0, "x_m": 1.5})  # new columns: both tables rewritten
    j.append({"run": "b", "status": "ok", "seed": 1, "x_m": 2.5})  # the CSV appended, the Parquet not yet
    assert pq.read_table(tmp_path / "results.parquet").column("run").to_pylist() == ["a"]
    j.flush()
    assert pq.read_table(tmp_path / "results.parquet").column("x_m").to_pylist() == [1.5, 2.5]
    j.parquet_every_s = 0.0
    j.append({"run": "c", "status": "ok", "seed": 2, "x_m": 3.5})
    assert pq.read_table(tmp_path / "results.parquet").num_rows == 3


def test_intervals_of_the_summary():
    from officina.stats import mean_t_interval, wilson_interval

    m = mean_t_interval([1.0, 2.0, 3.0])
    assert m.value == 2.0 and m.high - m.value == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-6)
    assert mean_t_interval([4.0]).low is None and mean_t_interval([]).value is None
    w = wilson_interval(5, 5)
    z2 = 1.959964 ** 2
    assert w.value == 1.0 and w.high == pytest.approx(1.0) and w.low == pytest.approx(5 / (5 + z2), rel=1e-5)
    assert wilson_interval(0, 4).low == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_stops_the_sweep_with_its_table_and_says_how_to_resume(tmp_path):
    out = tmp_path / "sw"
    officina = Path(sys.executable).with_name("officina")
    cmd = [str(officina), "sweep", CRASH, "--seeds", "0-5", "--set", "params.wall_s=1.5", "--workers", "1",
           "--out", str(out)]
    # Ctrl-C's default action in the child even when the test runs in the background of a
    # non-interactive shell (which starts its jobs with SIGINT ignored)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        csv = out / "results.csv"
        if csv.is_file() and len(csv.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    done = len((out / "results.csv").read_text().splitlines()) - 1
    assert 1 <= done < 6 and not (out / "sweep.json").exists()
    assert f"interrupted: {done} of 6 runs are in" in err and f"officina sweep --resume {out}" in err


def test_one_sweep_at_a_time_in_a_folder(cli, tmp_path):
    from officina.sweep import _FolderLock, open_sweep

    d, _, _ = open_sweep(CRASH, seeds=[0], grid={}, out=tmp_path / "sw")
    with _FolderLock(d):
        r = cli(["sweep", "--resume", d])
    assert r.exit_code == 2 and "a sweep is already running in this folder" in r.stderr
    assert f"pid {os.getpid()}" in r.stderr and not (d / "results.csv").exists()


def test_a_second_sweep_on_the_machine_starts_without_dasks_port_warning():
    """The LocalCluster's scheduler serves its HTTP endpoints on a free port: with 8787 taken (a
    sweep already running) Dask no longer warns 'Port 8787 is already in use. Perhaps you already
    have a cluster running?'."""
    import socket
    import warnings

    from officina.sweep import local_cluster

    with socket.socket() as held:
        try:
            held.bind(("127.0.0.1", 8787))
            held.listen(1)
        except OSError:
            pass  # taken already: the same situation
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client, cluster = local_cluster(1, 1)
            try:
                assert cluster.scheduler.services["dashboard"].port != 8787
            finally:
                client.close()
                cluster.close()
    assert not [w for w in caught if "already in use" in str(w.message)]


def test_a_robot_the_task_cannot_use_is_refused_before_the_sweep(cli, tmp_path):
    """docs/sweeps.md: every point is resolved first, a bad robot is one line and exit 2 with no
    folder; a robot whose gripper cannot do the task is one (it failed in its worker)."""
    out = tmp_path / "sw"
    r = cli(["sweep", "pick-place", "--seeds", "0", "--grid", "robot=panda,ur10e", "--out", out])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        "officina: error: pick-place needs a parallel gripper (its parts are 4-5.5 cm, smaller than a suction "
        "cup); robot 'ur10e' has a vacuum gripper"]
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--grid", "seed=1,2"], "--grid seed=...: the seeds are --seeds, e.g. --seeds 0-9"),
    (["--set", "seed=4"], "--set seed=...: the seeds are --seeds, e.g. --seeds 0-9"),
    (["--grid", "task=pick-place,peg-in-hole"], "--grid task=...: a sweep runs one task"),
])
def test_seed_and_task_are_not_grid_or_set_keys(cli, tmp_path, args, message):
    """They overrode --seeds (a run named seed1-seed0 ran seed 1; results.csv had two seed columns)."""
    r = cli(["sweep", "pick-place", "--seeds", "0", *args, "--out", tmp_path / "sw"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"officina: error: {message}")
    assert not (tmp_path / "sw").exists()
