"""The run loop and the run folder: crashes leave no metrics.json, pacing, config resolution order,
tasks from outside the tree, generic code that names no task, file permissions."""

import json
import os
import re
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from officina.errors import BadInput, JobFailed
from officina.runner import execute_run, resolve_config
from officina.tasks import TASKS, get_task

ROOT = Path(__file__).resolve().parents[1]
LAB_TASK = Path(__file__).parent / "data" / "lab_task.py"


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


def test_a_set_key_without_its_section_is_an_error_not_dropped():
    with pytest.raises(BadInput, match="config key 'min_separation_m': unknown key"):
        resolve_config("pick-place", overrides=["params.n_objects=2", "min_separation_m=0.2"])


def test_realtime_pacing_follows_the_wall_clock():
    from officina.controllers.safe_arm import SafeArm
    from officina.controllers.safety import SafetyFilter
    from officina.robots import load_robot
    from officina.sim.arm import SimArm
    from officina.sim.world import SimWorld
    from officina.tasks.runtime import Clock, Pacer, Recorder

    w = SimWorld()
    try:
        spec = load_robot("panda")
        h = w.load_robot(spec)
        arm = SafeArm(SimArm(w, h), SafetyFilter(spec.limits, 0.001))
        rec = Recorder(w, arm, [], 0.001)
        clock = Clock(w, arm, 1, [rec, Pacer(0.001)])
        t0 = time.perf_counter()
        for _ in range(300):
            clock.tick()
        assert time.perf_counter() - t0 >= 0.29
        assert len(rec.t) == 300 // rec.log_every
        assert np.all(np.diff(rec.t) > 0)
        assert w.time == pytest.approx(0.3)
    finally:
        w.close()


def test_the_clock_holds_an_arm_nobody_commands():
    """The watchdog runs in the clock, before the physics: a procedure that stops commanding
    mid-motion gets a braking hold, recorded as one safety event."""
    from officina.controllers.safe_arm import SafeArm
    from officina.controllers.safety import SafetyConfig, SafetyFilter
    from officina.robots import load_robot
    from officina.sim.arm import SimArm
    from officina.sim.world import SimWorld
    from officina.tasks.runtime import Clock

    with SimWorld() as w:
        spec = load_robot("panda")
        sim = SimArm(w, w.load_robot(spec))
        seen = []
        arm = SafeArm(sim, SafetyFilter(spec.limits, 0.001, SafetyConfig(watchdog_periods=20)), on_event=seen.append)
        clock = Clock(w, arm, 1)
        q = arm.read().position.copy()
        for k in range(300):  # accelerate joint 0
            q[0] += 1e-6 * k
            arm.command_positions(q.copy())
            clock.tick()
        for _ in range(1500):
            clock.tick()
        assert [e.event.value for e in seen] == ["watchdog"]
        assert abs(arm.read().velocity[0]) < 1e-3
        assert arm.safety.at_rest


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


def test_ctrl_c_exits_130(cli, tmp_path, monkeypatch):
    task = TASKS["pick-place"]

    def interrupted(cell, params):
        cell.tick()
        raise KeyboardInterrupt

    monkeypatch.setattr(task, "procedure", interrupted)
    r = cli(["run", "pick-place", "--out", str(tmp_path / "run")])
    assert r.exit_code == 130
    assert r.stderr.strip() == "officina: interrupted"  # one line that says what happened
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_job_failed_type():
    assert issubclass(JobFailed, RuntimeError)


def test_a_task_from_a_file_runs_through_the_cli(cli, tmp_path, monkeypatch):
    """A lab's task in its own file, unchanged: `officina run path.py:Class` runs it, the run folder
    shows its metrics, events, signals and summary, and its config.yaml reproduces the run."""
    monkeypatch.chdir(tmp_path)
    ref = f"{os.path.relpath(LAB_TASK, tmp_path)}:TouchPoint"
    r = cli(["run", ref, "--out", "run"])
    assert r.exit_code == 0, r.output
    assert "closest mm" in r.stdout
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["success"] and m["task"] == "touch-point" and m["closest_mm"] < 2.0
    assert m["safety_events_total"] == 0
    events = json.loads((tmp_path / "run" / "events.json").read_text())
    assert [e["event"] for e in events] == ["reached"]
    assert (tmp_path / "run" / "signals.png").is_file()
    from officina.statelog import read_topic_counts

    assert read_topic_counts(tmp_path / "run" / "state.mcap")["/signals/distance_mm"] == 200
    cfg = (tmp_path / "run" / "config.yaml").read_text()
    assert str(LAB_TASK) in cfg  # absolute: the config reproduces the run from anywhere
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    r = cli(["run", "--config", str(tmp_path / "run" / "config.yaml"), "--out", "again", "--json"])
    assert r.exit_code == 0, r.output
    again = json.loads(r.stdout)
    assert again["closest_mm"] == m["closest_mm"] and again["sim_steps"] == m["sim_steps"]
    # its parameters are checked like a built-in task's
    r = cli(["run", ref.replace(os.path.relpath(LAB_TASK, tmp_path), str(LAB_TASK)), "--set", "params.hold=1"])
    assert r.exit_code == 2 and "config key 'params.hold': unknown key" in r.stderr


@pytest.mark.parametrize("ref, message", [
    ("nowhere/task.py:Task", "file not found"),
    ("tests/data/lab_task.py:NoSuchClass", "has no 'NoSuchClass'"),
    ("json:dumps", "is not a task"),
    ("no_such_module_xyz:Task", "cannot import module"),
])
def test_bad_task_references_are_one_line(cli, ref, message, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = cli(["run", ref])
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_task_from_an_entry_point(tmp_path, monkeypatch):
    """An installed package's `officina.tasks` entry point is a task name like the built-ins."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "mylab_tasks.py").write_text(LAB_TASK.read_text())
    dist = pkg / "mylab-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[officina.tasks]\ntouch = mylab_tasks:TouchPoint\n")
    monkeypatch.syspath_prepend(str(pkg))
    from officina.tasks import task_names

    assert "touch" in task_names()
    assert get_task("touch").name == "touch-point"
    cfg = resolve_config("touch", overrides=["params.hold_s=0"])
    m = execute_run(cfg, tmp_path / "run").metrics
    assert m["success"] and m["task"] == "touch-point"


def test_generic_code_names_no_task():
    """The run loop, the run folder, the CLI face, sweeps and the ROS nodes read what a task
    declares; none of them knows a task's module or its metrics."""
    generic = [*sorted((ROOT / "officina").glob("*.py")), ROOT / "tasks" / "runtime.py",
               ROOT / "tasks" / "base.py", *sorted((ROOT / "ros").glob("*.py"))]
    pattern = re.compile(r"pick_place|PickPlace|objects_placed|objects_total")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in generic
             for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found


def test_run_folder_files_get_the_umask_permissions(tmp_path):
    from officina.runs import write_json_atomic

    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
        os.umask(0o002)
        write_json_atomic(tmp_path / "b.json", {"x": 1})
        assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o664
    finally:
        os.umask(old)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigterm-to-every-process"])
def test_a_stopped_run_keeps_its_state_log_and_leaves_no_process_behind(tmp_path, how):
    """Ctrl-C at a terminal (SIGINT to the foreground process group), SIGTERM to the run (Dask,
    SLURM) or to every process of the run (systemd's control group): the run exits 130 or 143 with
    error.txt and no metrics.json; its state log's writer process has finished the file (the run
    up to the stop, readable) and is gone when the run's process is."""
    import os
    import signal
    import subprocess
    import sys

    from officina.statelog import read_topic_counts

    d = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "officina.cli", "run", "pick-place", "--out", str(d),
                             "--set", "log.plots=false"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            # Ctrl-C's default action even when the suite runs in the background of
                            # a non-interactive shell (which starts its jobs with SIGINT ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for_log(d / "state.mcap", 1_000_000, 90)
        writers = _children(proc.pid)
        assert len(writers) == 1 and "officina.statelog_writer" in _cmdline(writers[0])
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
            if how == "sigterm-to-every-process":
                os.kill(writers[0], signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not _running(writers[0])  # the run waited for its writer: no orphan
    if how == "ctrl-c":
        assert proc.returncode == 130, err
        assert "interrupted" in (d / "error.txt").read_text()
    else:
        assert proc.returncode == 143, err
        assert "SIGTERM" in err and "SIGTERM" in (d / "error.txt").read_text()
    assert not (d / "metrics.json").exists()
    assert (d / "state.mcap").read_bytes().endswith(b"\x89MCAP0\r\n")  # finished: summary and index
    counts = read_topic_counts(d / "state.mcap")
    assert counts["/joint_states"] > 500 and counts["/tf"] > 200


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_for_log(path: Path, size: int, timeout_s: float) -> None:
    """Until the run's state log has ``size`` bytes on disk (a few chunks of 256 KiB)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > size:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {size} bytes in {timeout_s} s")


def _children(pid: int) -> list[int]:
    out = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat_file.parent.name))
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.timeout(180)
def test_sigkill_leaves_the_state_log_finished_up_to_the_kill(tmp_path):
    """A run killed outright (SIGKILL: the OOM killer, a scheduler's hard stop) cannot clean up;
    its state log's writer process sees the pipe close and finishes the file with every batch the
    run had sent it: a complete MCAP, its joint states without a gap from the start to the kill,
    at least as far as what was on disk at the kill."""
    import signal
    import subprocess
    import sys

    from officina.statelog import iter_decoded

    d = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "officina.cli", "run", "pick-place", "--out", str(d),
                             "--set", "log.plots=false"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = d / "state.mcap"
    _wait_for_log(log, 1_000_000, 120)
    writers = _children(proc.pid)
    on_disk = [m.log_time for _, _, m, _ in iter_decoded(log, ["/joint_states"])]  # its complete chunks
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(writers) == 1
    deadline = time.monotonic() + 60
    while _running(writers[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(writers[0])
    assert log.read_bytes().endswith(b"\x89MCAP0\r\n")  # finished: summary, index, closing magic
    assert not (d / "metrics.json").exists()
    stamps = np.array([m.log_time for _, _, m, _ in iter_decoded(log, ["/joint_states"])]) * 1e-9
    assert len(on_disk) > 500 and len(stamps) >= len(on_disk)
    assert stamps[-1] >= on_disk[-1] * 1e-9
    assert np.allclose(np.diff(stamps), 0.004, atol=1e-9)  # 250 Hz from the start, no gap
    assert stamps[0] == pytest.approx(0.004)


def test_a_scene_with_an_events_list_sees_what_the_procedure_logs(tmp_path):
    """The task's after_step and metrics read the procedure's events from the scene record (to hold
    what the procedure believed against ground truth); events.json has the same events."""
    from dataclasses import dataclass, field

    from officina.tasks import ProcedureOutcome, TaskDefinition, TaskScene

    @dataclass
    class Scene(TaskScene):
        events: list = field(default_factory=list)
        seen_at: list = field(default_factory=list)

    class Echo(TaskDefinition):
        name = "echo"
        description = "logs an event; after_step notices it"

        def build_scene(self, world, params, rng):
            return Scene()

        def after_step(self, world, scene, params, t):
            if scene.events and not scene.seen_at:
                scene.seen_at.append(t)

        def procedure(self, cell, params):
            cell.tick()
            cell.log_event(None, "believed", x=0.5)
            cell.tick()
            return ProcedureOutcome(True)

        def metrics(self, world, scene, params):
            return {"success": [e["event"] for e in scene.events] == ["believed"], "seen_at": scene.seen_at[0]}

    import officina.tasks as tasks_mod

    tasks_mod._loaded["echo-test"] = Echo()
    try:
        res = execute_run(resolve_config("echo-test"), tmp_path / "run")
    finally:
        tasks_mod._loaded.pop("echo-test")
    assert res.metrics["success"] and res.metrics["seen_at"] == pytest.approx(0.002)
    assert [e["event"] for e in json.loads((tmp_path / "run" / "events.json").read_text())] == ["believed"]


def test_built_in_tasks_import_on_first_use():
    """The registry names every built-in task by the name its class declares, and importing the
    registry imports no task module (running one task does not pay for the others' imports)."""
    import subprocess
    import sys

    code = ("import sys, officina.tasks as t; "
            "print(sorted(m for m in sys.modules if m.startswith('officina.tasks.') and m != 'officina.tasks.base'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
    for name in TASKS:
        assert TASKS[name].name == name
        assert get_task(name) is TASKS[name]


def test_the_recorder_keeps_the_largest_tracking_error_of_every_period():
    """The tracking error is ``max |q_ref - q|`` of every period (logged or not, across the
    recorder's batches; a period with a NaN does not count, nor one in another control mode),
    and the logged samples' errors are those of their periods."""
    from officina.interfaces import ControlMode, JointState
    from officina.tasks.runtime import Recorder

    class Arm:
        last_command = None
        mode = ControlMode.POSITION

    rng = np.random.default_rng(3)
    arm = Arm()
    rec = Recorder(None, arm, [], 0.001)
    n = 3 * Recorder._ERR_BATCH + 17
    expected, logged = 0.0, []
    for k in range(1, n + 1):
        q = rng.normal(size=7)
        ref = q + rng.normal(0.0, 1e-3, 7)
        arm.mode = ControlMode.VELOCITY if k == 100 else ControlMode.POSITION
        if k == 100:
            ref = q + 10.0  # no position reference in velocity mode: no error
        if k == 200:
            ref = ref.copy()
            ref[0] = np.nan
            ref[1] = q[1] + 10.0  # not a finite error: not counted
        arm.last_command = ref
        e = float(np.abs(q - ref).max()) if k != 100 else 0.0
        if e > expected:
            expected = e
        if k % rec.log_every == 0:
            logged.append(e)
        rec.on_tick(k, JointState(k * 1e-3, (), q, np.zeros(7), np.zeros(7)))
        if k == Recorder._ERR_BATCH + 5:
            assert rec.max_err == expected  # also between two batches
    assert rec.max_err == expected and expected < 0.01
    r = rec.record([f"j{i}" for i in range(7)])
    assert len(r.tracking_error) == len(logged)
    np.testing.assert_array_equal(r.tracking_error, logged)


def test_the_recorder_tracks_the_position_reference_as_the_arm_sent_it():
    """An arm with a `position_reference` (`SafeArm`) hands the command as it sent it: a list of
    floats from the filter's fast path, an array from its full checks, None outside position
    mode. The recorder keeps the same errors and samples as from the arm's arrays."""
    from officina.interfaces import ControlMode, JointState
    from officina.tasks.runtime import Recorder

    class ArrayArm:
        last_command = None
        mode = ControlMode.POSITION

    class ReferenceArm:
        ref = None

        @property
        def position_reference(self):
            return self.ref

    rng = np.random.default_rng(5)
    a, b = ArrayArm(), ReferenceArm()
    ra, rb = Recorder(None, a, [], 0.001), Recorder(None, b, [], 0.001)
    for k in range(1, 3 * Recorder._ERR_BATCH + 17):
        q = rng.normal(size=7)
        ref = q + rng.normal(0.0, 1e-3, 7)
        if k == 300:
            ref[2] = np.nan
        a.mode = ControlMode.VELOCITY if k % 97 == 0 else ControlMode.POSITION
        a.last_command = ref
        b.ref = None if k % 97 == 0 else ref if k % 3 == 1 else ref.tolist()  # batches of lists, of both
        st = JointState(k * 1e-3, (), q, np.zeros(7), np.zeros(7))
        ra.on_tick(k, st)
        rb.on_tick(k, st)
        if k == Recorder._ERR_BATCH + 5:
            assert rb.max_err == ra.max_err
    assert rb.max_err == ra.max_err > 0.0
    names = [f"j{i}" for i in range(7)]
    x, y = ra.record(names), rb.record(names)
    np.testing.assert_array_equal(y.q_ref, x.q_ref)
    np.testing.assert_array_equal(y.tracking_error, x.tracking_error)
