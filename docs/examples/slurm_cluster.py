"""A Dask cluster on SLURM for officina sweeps (dask-jobqueue): start it, print the scheduler's
address, keep it up until Ctrl-C. Each SLURM job is one Dask worker: one process, one thread, one
core, so one run at a time, as on a LocalCluster.

Run it on the login node (the scheduler lives in this process), with officina installed in a venv
that the compute nodes see (a shared file system), then sweep from another shell:

    python docs/examples/slurm_cluster.py --jobs 32 --queue compute --account mylab \\
        --venv /shared/officina/.venv
    officina sweep pick-place --seeds 0-999 --scheduler tcp://10.1.2.3:40123 --out /shared/sweeps/pp

`--dry-run` prints the job script each worker is started with, and submits nothing.
"""

from __future__ import annotations

import argparse
import time


WORKER_CONFIG = "import officina.sweep as s; print(s.DASK_WORKER_CONFIG)"


def make_cluster(args):
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        queue=args.queue,
        account=args.account,
        cores=1,  # one thread per worker: one run at a time, one core each
        processes=1,
        memory=args.memory,
        walltime=args.walltime,
        job_script_prologue=[f"source {args.venv}/bin/activate", "export MPLBACKEND=Agg",
                             # officina's Dask settings for sweep workers (docs/sweeps.md)
                             f"export DASK_CONFIG=$(python -c '{WORKER_CONFIG}')"],
        scheduler_options={"dashboard_address": ":8787"} if args.dashboard else {"dashboard_address": None},
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=16, help="SLURM jobs = Dask workers (adapts from 0 up to this)")
    ap.add_argument("--queue", default=None, help="SLURM partition (#SBATCH -p)")
    ap.add_argument("--account", default=None, help="SLURM account (#SBATCH -A)")
    ap.add_argument("--memory", default="4GiB", help="memory per worker (a pick-place run needs well under 1 GiB)")
    ap.add_argument("--walltime", default="04:00:00", help="time limit of each worker job")
    ap.add_argument("--venv", default=".venv", help="the venv with officina, as the compute nodes see it")
    ap.add_argument("--dashboard", action="store_true", help="serve Dask's dashboard on port 8787")
    ap.add_argument("--dry-run", action="store_true", help="print the job script; submit nothing")
    args = ap.parse_args(argv)
    cluster = make_cluster(args)
    try:
        if args.dry_run:
            print(cluster.job_script())
            return
        cluster.adapt(minimum_jobs=0, maximum_jobs=args.jobs)
        print(f"scheduler: {cluster.scheduler_address}", flush=True)
        print("officina sweep TASK ... --scheduler " + cluster.scheduler_address, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
