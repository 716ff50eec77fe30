"""What PyBullet's step costs inside a pick-place episode, by phase, against raw stepping.

Runs one pick-place episode (the run loop as `officina run` has it: safety filter, contact
monitor, recorder; no run folder) and labels every physics step by what the cell does in it,
from the state after the previous step:

* ``still``: the arm at rest, the gripper not moving (camera captures, settling, waits);
* ``move``: the arm moving, nothing held (approach, retreat, going home);
* ``gripper``: the fingers moving, or an object held but not lifted, or held above the bin
  (grasp, the place's descent into the bin, release);
* ``carry``: an object held and lifted above where it started, outside the bin's footprint
  (lift, carry).

and by the number of objects resting in the bin. Each measurement is a separate episode of the
same seed (PyBullet is deterministic: the same commands give the same steps):

* ``--measure stats``: per phase, the solver's iterations used (PyBullet's solver analytics,
  the largest island) and the share of steps that ran to the cap, the islands solved and their
  bodies, and the contact points after the step (all, and those of the robot);
* ``--measure time``: per phase, the thread CPU time of each ``stepSimulation``
  (``time.thread_time_ns`` around the call alone: time other processes take is not counted,
  their use of the shared caches is), against raw stepping of the same world with the arm at
  rest (the same timer, in the same process, before the episode);
* ``--measure callgrind``: per phase, the instructions executed inside ``stepSimulation``
  (valgrind's callgrind, collecting only inside PyBullet's ``pybullet_stepSimulation`` and
  dumping its counts whenever the label changes), against raw stepping under the same tool,
  and those of the step's parts (`PARTS`: collision detection, the forward dynamics, the
  solver's set-up of its rows and its iterations). Under valgrind the episode's floats differ
  in the last bits from a native run's (a label may start a step later or earlier).

Rows are per label (phase/objects in the bin), per phase, and for the whole episode.

    python benchmarks/physics_phases.py [--robot panda] [--seed 0] [--measure time]
        [--variant default] [--raw-steps 3000] [--repeats 1]

``--variant`` is one of `officina.tasks.bench_physics`'s variants.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

PHASES = ("still", "move", "gripper", "carry")


class PhaseLabeller:
    """Observer: the phase of the next physics step, from the state after the last one."""

    def __init__(self, world, gripper, objects, bin_xy, bin_half, *, lift_m: float = 0.02,
                 still_rad_s: float = 1e-3) -> None:
        from officina.interfaces import GraspState

        self._world = world
        self._gripper = gripper
        self._objects = [o.body_id for o in objects]
        self._z0 = [float(world.object_pose(b)[0][2]) for b in self._objects]
        self._bin_xy = np.asarray(bin_xy, dtype=float)
        self._bin_half = np.asarray(bin_half, dtype=float)
        self._lift = lift_m
        self._still = still_rad_s
        self._gs = GraspState
        self.phase = "still"
        self.in_bin = 0

    def on_tick(self, k: int, state) -> None:
        g = self._gripper.grasp_state()
        poses = [self._world.object_pose(b)[0] for b in self._objects]
        self.in_bin = sum(bool(np.all(np.abs(p[:2] - self._bin_xy) < self._bin_half)) and p[2] < 0.1
                          for p in poses)
        lifted = any(p[2] > z0 + self._lift and not np.all(np.abs(p[:2] - self._bin_xy) < self._bin_half)
                     for p, z0 in zip(poses, self._z0))
        if g == self._gs.HOLDING and lifted:
            self.phase = "carry"
        elif g == self._gs.MOVING or g == self._gs.HOLDING:
            self.phase = "gripper"
        elif float(np.max(np.abs(state.velocity))) > self._still:
            self.phase = "move"
        else:
            self.phase = "still"

    def label(self) -> str:
        return f"{self.phase}/{self.in_bin}"


def _episode(robot: str, seed: int, variant: str, on_step, *, analytics: bool = False):
    """One pick-place episode; ``on_step(label, step, sim)`` wraps each physics step (``step()``
    does it and returns what ``stepSimulation`` returned; ``sim`` is the `SimCell`)."""
    from officina.config import RunConfig
    from officina.runner import safety_config
    from officina.sim.bullet import pybullet as p
    from officina.tasks.bench_physics import sim_cell, variants
    from officina.tasks.runtime import run_episode

    sim = sim_cell(robot, seed, variants()[variant])
    world, cid = sim.world, sim.world.client_id
    if analytics:
        p.setPhysicsEngineParameter(reportSolverAnalytics=1, physicsClientId=cid)
    params = sim.params
    labeller = PhaseLabeller(world, sim.gripper, sim.scene.objects, params.bin_center_xy,
                             np.asarray(params.bin_inner_size_m) / 2)
    hooks = world._pre_step

    def step(n: int = 1) -> None:
        for _ in range(n):
            for hook in hooks:
                hook()
            on_step(labeller.label(), lambda: p.stepSimulation(physicsClientId=cid), sim)
        world.steps += n

    world.step = step
    try:
        ep = run_episode(sim, safety_config(RunConfig(task="pick-place")), observers=[labeller])
    finally:
        sim.close()
    return ep.metrics


def _raw(robot: str, seed: int, variant: str, steps: int, on_step, *, analytics: bool = False) -> None:
    """Raw stepping of the episode's world with the arm at rest (as `officina bench sim`)."""
    from officina.sim.bullet import pybullet as p
    from officina.tasks.bench_physics import sim_cell, variants

    sim = sim_cell(robot, seed, variants()[variant])
    cid = sim.world.client_id
    if analytics:
        p.setPhysicsEngineParameter(reportSolverAnalytics=1, physicsClientId=cid)
    try:
        for _ in range(steps):
            on_step("raw", lambda: p.stepSimulation(physicsClientId=cid), sim)
    finally:
        sim.close()


def measure_stats(robot: str, seed: int, variant: str) -> dict:
    from officina.sim.bullet import pybullet as p

    rows: dict[str, list] = collections.defaultdict(list)
    def on_step(label, step, sim):
        out = step() or ()
        its = max(i["numIterationsUsed"] for i in out) if out else 0
        pts = p.getContactPoints(physicsClientId=sim.world.client_id) or ()
        robot_pts = sum(1 for c in pts if sim.robot.body_id in (c[1], c[2]))
        rows[label].append((its, len(out), len(pts), robot_pts, sum(i["numBodies"] for i in out)))

    _raw(robot, seed, variant, 1000, on_step, analytics=True)
    rows["raw"] = rows["raw"][100:]  # once the objects have settled
    metrics = _episode(robot, seed, variant, on_step, analytics=True)
    from officina.tasks.bench_physics import variants

    cap = variants()[variant].solver_iterations
    return {"metrics": _outcome(metrics), "phases": {
        label: {"steps": len(v), "iterations_mean": float(np.mean([r[0] for r in v])),
                "iterations_max": int(max(r[0] for r in v)),
                "at_cap_mean": float(np.mean([r[0] >= cap for r in v])),
                "islands_mean": float(np.mean([r[1] for r in v])),
                "contacts_mean": float(np.mean([r[2] for r in v])), "robot_contacts_mean": float(np.mean([r[3] for r in v])),
                "island_bodies_mean": float(np.mean([r[4] for r in v]))}
        for label, v in sorted(rows.items())}}


def measure_time(robot: str, seed: int, variant: str, raw_steps: int, repeats: int = 1) -> dict:
    """Per label the mean and median step of each repeat (raw stepping, then the episode); the
    repeat with the smallest mean is kept, label by label."""
    best: dict[str, dict] = {}
    clock = time.thread_time_ns
    for _ in range(repeats):
        rows: dict[str, list[int]] = collections.defaultdict(list)

        def on_step(label, step, sim):
            t0 = clock()
            step()
            rows[label].append(clock() - t0)

        _raw(robot, seed, variant, raw_steps, on_step)
        metrics = _episode(robot, seed, variant, on_step)
        for label, v in rows.items():
            r = {"steps": len(v), "mean_us": float(np.mean(v)) / 1e3, "median_us": float(np.median(v)) / 1e3}
            if label not in best or r["mean_us"] < best[label]["mean_us"]:
                best[label] = r
    return {"metrics": _outcome(metrics), "phases": dict(sorted(best.items()))}


_CG_SCRIPT = """
import sys
from officina.benchmarks import physics_phases as m
m._callgrind_child(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5])
"""


def _callgrind_child(robot: str, seed: int, variant: str, raw_steps: int, labels_file: str) -> None:
    """Under callgrind: every change of label calls ``p.getAPIVersion`` (the dump marker) and
    writes the label of the counts dumped there."""
    from officina.sim.bullet import pybullet as p

    order: list[tuple[str, int]] = []
    cur = [None]

    def on_step(label, step, sim):
        if label != cur[0]:
            p.getAPIVersion()
            cur[0] = label
            order.append((label, 0))
        order[-1] = (label, order[-1][1] + 1)
        step()

    _raw(robot, seed, variant, raw_steps, on_step)
    cur[0] = None
    metrics = _episode(robot, seed, variant, on_step)
    p.getAPIVersion()
    with open(labels_file, "w") as f:
        json.dump({"segments": order, "metrics": _outcome(metrics)}, f)


# parts of a step, by the inclusive instructions of the function that does them
PARTS = {
    "collision": "btCollisionWorld::performDiscreteCollisionDetection(",
    "dynamics": "btMultiBodyDynamicsWorld::solveExternalForces(",
    "solver_setup": "btMultiBodyConstraintSolver::solveGroupCacheFriendlySetup(",
    "solver_iterations": "btMultiBodyConstraintSolver::solveSingleIteration(",
}


def _inclusive(path: str) -> dict[str, int]:
    """Inclusive instruction counts of `PARTS` in one callgrind dump."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    res = dict.fromkeys(PARTS, 0)
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+[^:]*:(.*)$", line)
        if not m:
            continue
        for part, fn in PARTS.items():
            if res[part] == 0 and m.group(2).startswith(fn):
                res[part] = int(m.group(1).replace(",", ""))
    return res


def measure_callgrind(robot: str, seed: int, variant: str, raw_steps: int, workdir: str) -> dict:
    labels = os.path.join(workdir, "labels.json")
    out = os.path.join(workdir, "cg.out")
    # this interpreter's environment, as the venv's start-up made it (valgrind must not re-exec)
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                    "--toggle-collect=pybullet_stepSimulation", "--dump-before=pybullet_getAPIVersion",
                    sys.executable, "-c", _CG_SCRIPT, robot, str(seed), variant, str(raw_steps), labels],
                   env=env, check=True, capture_output=True)
    with open(labels) as f:
        info = json.load(f)
    files = sorted(glob.glob(out + ".*"), key=lambda s: int(s.rsplit(".", 1)[1]))
    counts = []
    for path in files:
        with open(path) as f:
            m = re.search(r"^(?:summary|totals):\s+(\d+)", f.read(), re.M)
        counts.append((path, int(m.group(1)) if m else 0))
    segs = info["segments"]
    # the first dump holds what ran before the first marker (no step); then one dump per segment
    counts = counts[1:1 + len(segs)]
    if len(counts) != len(segs):
        raise RuntimeError(f"{len(segs)} segments but {len(counts)} dumps")
    agg: dict[str, dict[str, int]] = {}
    for (label, n), (path, ir) in zip(segs, counts):
        a = agg.setdefault(label, {"steps": 0, "ir": 0, **dict.fromkeys(PARTS, 0)})
        a["steps"] += n
        a["ir"] += ir
        if ir:
            for part, v in _inclusive(path).items():
                a[part] += v
    phases = {}
    for label, a in sorted(agg.items()):
        n = a["steps"]
        phases[label] = {"steps": n, "k_instructions": a["ir"] / n / 1e3,
                         **{f"k_{part}": a[part] / n / 1e3 for part in PARTS}}
    return {"metrics": info["metrics"], "phases": phases}


def _outcome(m: dict) -> dict:
    return {k: m[k] for k in ("success", "objects_placed", "safety_events_total", "cycle_time_s", "sim_steps",
                              "max_joint_tracking_error_rad")}


def _summaries(phases: dict) -> dict:
    """Rows per phase over every number of objects in the bin, and for the whole episode: the
    step-weighted means of the rows' means."""
    groups: dict[str, list] = collections.defaultdict(list)
    for label, r in phases.items():
        if label != "raw":
            groups[label.split("/")[0]].append(r)
            groups["episode"].append(r)
    out = {}
    for name in (*PHASES, "episode"):
        rs = groups.get(name)
        if not rs:
            continue
        n = sum(r["steps"] for r in rs)
        keys = [k for k in rs[0] if k.startswith("k_") or k.endswith("_mean") or k == "mean_us"]
        out[name] = {"steps": n, **{k: sum(r[k] * r["steps"] for r in rs) / n for k in keys}}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="panda")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", default="default")
    ap.add_argument("--measure", choices=("stats", "time", "callgrind"), default="time")
    ap.add_argument("--raw-steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=1, help="time: repeats, the fastest kept per phase")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.measure == "stats":
        res = measure_stats(a.robot, a.seed, a.variant)
    elif a.measure == "time":
        res = measure_time(a.robot, a.seed, a.variant, a.raw_steps, a.repeats)
    else:
        with tempfile.TemporaryDirectory() as d:
            res = measure_callgrind(a.robot, a.seed, a.variant, a.raw_steps, d)
    res["phases"].update(_summaries(res["phases"]))
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"{a.robot} seed {a.seed} variant {a.variant}: {res['metrics']}")
    for label, r in res["phases"].items():
        print(f"  {label:12s} " + "  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
