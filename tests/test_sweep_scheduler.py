"""A sweep on a Dask scheduler and worker started by hand (`dask scheduler`, `dask worker`), on
loopback: the way a lab runs it on machines of its own (docs/sweeps.md)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")


def _dask() -> str:
    exe = Path(sys.executable).with_name("dask")
    if not exe.is_file():
        pytest.fail(f"the `dask` command is not installed next to {sys.executable} (the 'dist' extra)")
    return str(exe)


@pytest.mark.timeout(240)
def test_sweep_on_a_scheduler_started_by_hand(cli, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    sched_file = tmp_path / "scheduler.json"
    logs = {n: open(tmp_path / f"{n}.log", "w") for n in ("scheduler", "worker")}
    procs = [subprocess.Popen([_dask(), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], stdout=logs["scheduler"],
                              stderr=subprocess.STDOUT, env=env, cwd=tmp_path)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sched_file.is_file(), (tmp_path / "scheduler.log").read_text()
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        from officina.sweep import DASK_WORKER_CONFIG

        procs.append(subprocess.Popen([_dask(), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                       "--no-dashboard", "--host", "127.0.0.1"], stdout=logs["worker"],
                                      stderr=subprocess.STDOUT, env={**env, "DASK_CONFIG": str(DASK_WORKER_CONFIG)},
                                      cwd=tmp_path))
        ref = f"{Path(__file__).parent / 'data' / 'lab_task.py'}:TouchPoint"
        r = cli(["sweep", ref, "--seeds", "0", "--grid", "params.hold_s=0.0,0.1", "--scheduler", address,
                 "--out", str(tmp_path / "sw"), "--json"])
        assert r.exit_code == 0, r.output + (tmp_path / "worker.log").read_text()
        data = json.loads(r.stdout)
        assert len(data["runs"]) == 2 and data["success_rate"] == 1.0
        # the runs ran in the worker process started here, not in this one
        from officina.results import read_table

        table = read_table(tmp_path / "sw" / "results.csv")
        assert len(table) == 2 and all(not t["worker"].endswith(f":{os.getpid()}") for t in table)
        assert len({t["worker"] for t in table}) == 1
        assert all((tmp_path / "sw" / row["run_dir"] / "metrics.json").is_file() for row in data["runs"])
        # the worker read officina's Dask settings for sweeps from DASK_CONFIG (docs/sweeps.md)
        from dask.distributed import Client

        def state(dask_worker):
            import os

            return "profile" in dask_worker.periodic_callbacks, os.environ.get("MALLOC_TRIM_THRESHOLD_")

        with Client(address, timeout="30s") as client:
            assert list(client.run(state).values()) == [(False, os.environ.get("MALLOC_TRIM_THRESHOLD_"))]
        # a scheduler that is not there is bad input, before anything starts
        r = cli(["sweep", ref, "--seeds", "0", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "none")])
        assert r.exit_code == 2 and "cannot connect" in r.stderr and not (tmp_path / "none").exists()
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        for f in logs.values():
            f.close()


@pytest.mark.timeout(120)
def test_the_documented_slurm_cluster_script_writes_its_job_script():
    """docs/examples/slurm_cluster.py (docs/sweeps.md): the job script dask-jobqueue would submit."""
    pytest.importorskip("dask_jobqueue")
    script = Path(__file__).parents[1] / "docs" / "examples" / "slurm_cluster.py"
    r = subprocess.run([sys.executable, str(script), "--dry-run", "--queue", "compute", "--account", "mylab",
                        "--venv", "/shared/officina/.venv"], capture_output=True, text=True, timeout=100)
    assert r.returncode == 0, r.stderr
    job = r.stdout
    for line in ("#SBATCH -p compute", "#SBATCH -A mylab", "#SBATCH --cpus-per-task=1",
                 "source /shared/officina/.venv/bin/activate", "export MPLBACKEND=Agg",
                 "export DASK_CONFIG=$(python -c 'import officina.sweep as s; print(s.DASK_WORKER_CONFIG)')"):
        assert line in job, line
    assert "distributed.cli.dask_worker" in job and "--nthreads 1" in job
