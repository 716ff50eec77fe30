"""The run folder's plots: drawn in this process or by a `PlotProcess` (what `officina run` uses),
which writes the same files, says when it failed, and never outlives the run."""

import os
import time

import numpy as np
import pytest

from officina.plots import PlotProcess, envelope, run_plots
from officina.tasks.base import RunRecord

FILES = {"joint_positions.png", "tracking_error.png", "signals.png"}


def _record(n: int = 3000, dof: int = 3) -> RunRecord:
    rng = np.random.default_rng(0)
    t = np.arange(n) * 0.004
    q_ref = np.cumsum(rng.normal(0.0, 1e-3, (n, dof)), axis=0)
    q = q_ref + rng.normal(0.0, 1e-4, (n, dof))
    return RunRecord(joint_names=tuple(f"j{i}" for i in range(dof)), t=t, q=q, qd=np.zeros((n, dof)),
                     effort=np.zeros((n, dof)), q_ref=q_ref, tracking_error=np.abs(q - q_ref).max(axis=1),
                     object_names=(), object_t=np.zeros(0), object_poses=np.zeros((0, 0, 7)),
                     events=[{"t": 1.0, "event": "grasp"}, {"t": 2.0, "event": "other"}],
                     signals={"force_n": [(0.1 * i, float(i % 7)) for i in range(100)]})


def test_the_envelope_keeps_every_peak():
    t = np.arange(10_000) * 1e-3
    y = np.sin(t)
    y[1234], y[8765] = 5.0, -5.0
    te, ye = envelope(t, y, bins=100)
    assert len(te) == 200 and np.all(np.diff(te) >= 0)
    assert ye.max() == 5.0 and ye.min() == -5.0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("prepared", [True, False], ids=["figure-made-while-waiting", "figure-made-at-the-job"])
def test_the_plot_process_writes_what_run_plots_writes(tmp_path, prepared):
    """Given the joint names when it starts (as `officina run` does), the process makes and draws
    the joint positions figure before the job comes: the files are still byte for byte the same."""
    rec = _record()
    inline, background = tmp_path / "inline", tmp_path / "background"
    inline.mkdir()
    background.mkdir()
    assert set(run_plots(inline, rec, ("grasp",), 0.01)) == FILES
    proc = PlotProcess(rec.joint_names if prepared else None)
    proc.draw(background, rec, ("grasp",), 0.01)
    proc.wait()
    proc.close()
    assert {p.name for p in background.iterdir()} == FILES
    for name in FILES:  # the same figure, drawn by the same code (on two cores there)
        assert (background / name).read_bytes() == (inline / name).read_bytes()


@pytest.mark.timeout(120)
def test_a_plot_process_without_a_job_ends_without_drawing(tmp_path):
    proc = PlotProcess(("j0", "j1"))
    pid = proc._proc.pid
    proc.close()
    assert not _alive(pid)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(120)
def test_a_failed_plot_process_says_why(tmp_path):
    proc = PlotProcess()
    proc.draw(tmp_path / "missing" / "folder", _record(), (), 0.01)
    with pytest.raises(RuntimeError, match="the plot process failed"):
        proc.wait()
    proc.close()


@pytest.mark.timeout(300)
def test_officina_run_writes_its_plots_before_its_metrics_and_leaves_no_process(tmp_path, cli, monkeypatch):
    """`officina run` draws in a plot process: the PNGs are in the run folder when it returns,
    metrics.json is written after them, and no plot process is left, after a run or a crash."""
    from officina.tasks import TASKS

    d = tmp_path / "run"
    r = cli(["run", "pick-place", "--out", d, "--set", "params.n_objects=1"])
    assert r.exit_code == 0, r.output
    names = {p.name for p in d.iterdir()}
    assert {"joint_positions.png", "tracking_error.png", "metrics.json"} <= names
    last_png = max((d / n).stat().st_mtime_ns for n in names if n.endswith(".png"))
    assert (d / "metrics.json").stat().st_mtime_ns >= last_png
    assert _plot_processes() == []

    def boom(cell, params):
        cell.tick()
        raise RuntimeError("gripper cable unplugged")

    monkeypatch.setattr(TASKS["pick-place"], "procedure", boom)
    r = cli(["run", "pick-place", "--out", tmp_path / "crash"])
    assert r.exit_code == 1
    assert not (tmp_path / "crash" / "metrics.json").exists()
    assert not any(p.suffix == ".png" for p in (tmp_path / "crash").iterdir())
    assert _plot_processes() == []


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z":
            return False
        time.sleep(0.05)
    return True


def _plot_processes() -> list[int]:
    """This process's children that are plot processes and still run."""
    me = str(os.getpid())
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
            cmd = open(f"/proc/{d}/cmdline", "rb").read()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z" and b"officina.plots" in cmd:
            out.append(int(d))
    return out
