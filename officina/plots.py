"""The plots every run folder gets, drawn from a `RunRecord` (matplotlib's Agg canvas, no pyplot).

* ``joint_positions.png``: commanded vs measured position of every joint;
* ``tracking_error.png``: the largest joint tracking error over time, with the task's events;
* ``signals.png``: the scalar signals the procedure logged (only when there are some).

A plot is 720 pixels wide: a line of more samples than that is drawn from its envelope (the
minimum and maximum of each of ~1000 bins), which keeps every peak and costs a fraction of
drawing every sample.

`PlotProcess` draws them in a process of their own (``python -m officina.plots``), started
when a run starts: it imports matplotlib while the run goes, on another core, and draws while
the run's process finishes the rest of the run folder, on two cores when there are (a forked
child draws the tracking error and the signals beside the joint positions). A process that runs one run and exits
(`officina run`) saves the import and the drawing from its wall time; a process that runs many
(a sweep's worker) imports matplotlib once and draws in-process.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from officina.processes import wait_process

if TYPE_CHECKING:
    from officina.tasks.base import RunRecord

__all__ = ["run_plots", "envelope", "PlotProcess"]

_DPI = 80
_BINS = 1000


def envelope(t: np.ndarray, y: np.ndarray, bins: int = _BINS) -> tuple[np.ndarray, np.ndarray]:
    """(t, y) reduced to the minimum and maximum of ``bins`` consecutive slices, in time order;
    unchanged when it has no more than ``2 * bins`` samples."""
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(t)
    if n <= 2 * bins:
        return t, y
    size = -(-n // bins)  # samples per bin; the last bin is padded with the last sample
    padded = np.concatenate([y, np.full(size * bins - n, y[-1])]).reshape(bins, size)
    base = np.arange(bins) * size
    i_lo = np.minimum(base + np.argmin(padded, axis=1), n - 1)
    i_hi = np.minimum(base + np.argmax(padded, axis=1), n - 1)
    first = i_lo <= i_hi
    idx = np.empty(2 * bins, dtype=int)
    idx[0::2] = np.where(first, i_lo, i_hi)
    idx[1::2] = np.where(first, i_hi, i_lo)
    return t[idx], y[idx]


def _figure(width_in: float, height_in: float, rows: int = 1, sharex: bool = True):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=_DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False)[:, 0]
    return fig, axes


def _mark_events(ax, events: Sequence[tuple[float, str]]) -> None:
    top = ax.get_ylim()[1]
    for te, what in events:
        ax.axvline(te, color="0.8", lw=0.8, zorder=0)
        ax.text(te, top, what, rotation=90, fontsize=6, va="top", color="0.4")


def _save(fig, path: Path, top: float, bottom: float) -> None:
    fig.subplots_adjust(left=0.11, right=0.98, top=top, bottom=bottom, hspace=0.15)
    fig.savefig(path, dpi=_DPI)


def run_plots(run_dir: Path, rec: RunRecord, marked_events: Sequence[str], max_err_rad: float,
              joint_figure: _JointPositionsFigure | None = None) -> list[str]:
    """Write the standard plots (the joint positions on ``joint_figure`` when it was made for the
    record's joints); returns their file names."""
    out = [_joint_positions(run_dir, rec, joint_figure)]
    return out + _error_and_signals(run_dir, rec, marked_events, max_err_rad)


def _joint_positions(run_dir: Path, rec: RunRecord, figure: _JointPositionsFigure | None = None) -> str:
    """The joint positions plot, on ``figure`` when it was made for the record's joints."""
    if figure is None or figure.joint_names != tuple(rec.joint_names):
        figure = _JointPositionsFigure(rec.joint_names)
    return figure.save(run_dir, rec)


class _JointPositionsFigure:
    """The joint positions figure, in two parts: what does not depend on the record (the figure,
    an axes per joint, labels, grid) when made, the lines when saved. The plot process makes it
    while the run goes and draws it once (``drawn=True``: the axes' ticks, their labels' text
    and the fonts are ready then), so that after the run only the lines and the ticks that
    changed are left; the file is the same either way."""

    def __init__(self, joint_names: Sequence[str], *, drawn: bool = False) -> None:
        self.joint_names = tuple(joint_names)
        self.height = 1.5 * len(self.joint_names) + 1
        self.fig, self.axes = _figure(9, self.height, len(self.joint_names))
        for name, ax in zip(self.joint_names, self.axes):
            ax.set_ylabel(f"{name}\n[rad]", fontsize=8)
            ax.grid(alpha=0.3)
        self.axes[-1].set_xlabel("sim time [s]")
        self.fig.suptitle("Joint positions")
        self.fig.subplots_adjust(left=0.11, right=0.98, top=1 - 0.45 / self.height, bottom=0.5 / self.height,
                                 hspace=0.15)
        if drawn:
            self.fig.canvas.draw()

    def save(self, run_dir: Path, rec: RunRecord) -> str:
        t = rec.t
        for i, ax in enumerate(self.axes):
            ax.plot(*envelope(t, rec.q_ref[:, i]), color="0.6", lw=2.5, label="commanded")
            ax.plot(*envelope(t, rec.q[:, i]), color="C0", lw=1.0, label="measured")
        self.axes[0].legend(loc="upper right", fontsize=8)
        self.fig.savefig(run_dir / "joint_positions.png", dpi=_DPI)
        return "joint_positions.png"


def _error_and_signals(run_dir: Path, rec: RunRecord, marked_events: Sequence[str], max_err_rad: float) -> list[str]:
    """The tracking error and (when there are some) the signals."""
    out = []
    t = rec.t
    events = [(e["t"], e["event"]) for e in rec.events if e["event"] in set(marked_events)]
    fig, (ax,) = _figure(9, 3.2)
    ax.plot(*envelope(t, np.rad2deg(rec.tracking_error)), color="C3", lw=1.0)
    ax.set_xlabel("sim time [s]")
    ax.set_ylabel("max |q_ref - q| [deg]")
    ax.set_title(f"Joint tracking error (max {np.rad2deg(max_err_rad):.3f} deg at the control rate)")
    _mark_events(ax, events)
    ax.grid(alpha=0.3)
    _save(fig, run_dir / "tracking_error.png", 0.9, 0.15)
    out.append("tracking_error.png")

    if rec.signals:
        height = 2.2 * len(rec.signals) + 0.6
        fig, axes = _figure(9, height, len(rec.signals))
        for ax, (name, samples) in zip(axes, sorted(rec.signals.items())):
            s = np.asarray(samples, dtype=float).reshape(-1, 2)
            ax.plot(*envelope(s[:, 0], s[:, 1]), color="C1", lw=1.0)
            ax.set_ylabel(name, fontsize=8)
            ax.grid(alpha=0.3)
            _mark_events(ax, events)
        axes[-1].set_xlabel("sim time [s]")
        fig.suptitle("Signals")
        _save(fig, run_dir / "signals.png", 1 - 0.45 / height, 0.5 / height)
        out.append("signals.png")
    return out


def _draw_forked(run_dir: Path, rec: RunRecord, marked_events: Sequence[str], max_err_rad: float,
                 joint_figure: _JointPositionsFigure | None = None) -> None:
    """`run_plots` on two cores: a forked child draws the tracking error and the signals while
    this process draws the joint positions (the largest figure; on ``joint_figure`` when it was
    made for the record's joints); raises if either failed."""
    import os
    import traceback

    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _error_and_signals(run_dir, rec, marked_events, max_err_rad)
        except BaseException:  # noqa: BLE001 - the parent reports it
            traceback.print_exc()
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    try:
        _joint_positions(run_dir, rec, joint_figure)
    finally:
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("drawing the tracking error or the signals failed")


class PlotProcess:
    """`run_plots` in a process of its own (``python -m officina.plots``), which imports matplotlib
    as soon as it starts and then waits for its one job on its stdin. Given the run's joint names,
    it makes the joint positions figure while it waits (everything in it but the lines).

    `draw` hands it the job and returns at once; `wait` waits for the plots to be written and
    raises RuntimeError (with the process's last line of stderr) if they were not. `close`
    without a `draw` ends the process without drawing (a run that stopped)."""

    def __init__(self, joint_names: Sequence[str] | None = None) -> None:
        self._err = tempfile.TemporaryFile()
        # its own session: a Ctrl-C at the terminal stops the run, which then closes the pipe
        self._proc = subprocess.Popen([sys.executable, "-m", "officina.plots"], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=self._err, start_new_session=True)
        if joint_names is not None:
            self._send(("prepare", tuple(joint_names)))

    def _send(self, message) -> None:
        try:
            self._proc.stdin.write(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the process is gone: wait() says why

    def draw(self, run_dir: Path, rec: RunRecord, marked_events: Sequence[str], max_err_rad: float) -> None:
        # what run_plots reads of the record, not the rest (velocities, efforts, object poses)
        job = (str(run_dir), SimpleNamespace(t=rec.t, q=rec.q, q_ref=rec.q_ref, tracking_error=rec.tracking_error,
                                             joint_names=rec.joint_names, events=rec.events, signals=rec.signals),
               tuple(marked_events), float(max_err_rad))
        try:
            self._send(("draw", job))
        finally:
            self._close_stdin()

    def wait(self, timeout_s: float = 300.0) -> None:
        self._close_stdin()
        try:
            rc = wait_process(self._proc, timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise RuntimeError(f"the plot process did not finish within {timeout_s:g} s") from None
        finally:
            self._err.seek(0)
            lines = self._err.read().decode(errors="replace").strip().splitlines()
            self._err.close()
        if rc != 0:
            raise RuntimeError(f"the plot process failed (exit {rc})" + (f": {lines[-1]}" if lines else ""))

    def close(self) -> None:
        """End the process without drawing (nothing happens after `wait`)."""
        if self._proc.returncode is None:
            self._close_stdin()
            try:
                wait_process(self._proc, 10.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if not self._err.closed:
            self._err.close()

    def _close_stdin(self) -> None:
        try:
            self._proc.stdin.close()
        except OSError:
            pass


def _main() -> None:
    """The plot process: import matplotlib, read messages from stdin: ``("prepare", joint_names)``
    makes the joint positions figure, ``("draw", job)`` draws the job's plots (nothing is drawn
    when stdin closes without a job). Ignores SIGINT: whoever stops the run closes the pipe. Once
    the files are written it exits at once (the run waits for it; tearing matplotlib down is no
    use)."""
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import matplotlib.backends.backend_agg  # noqa: F401 - the import is why this process starts early
    import matplotlib.figure  # noqa: F401

    joint_figure = None
    while True:
        try:
            kind, body = pickle.load(sys.stdin.buffer)
        except (EOFError, pickle.UnpicklingError):  # closed without a (whole) job: the run stopped
            break
        if kind == "prepare":
            joint_figure = _JointPositionsFigure(body, drawn=True)
            continue
        folder, rec, marked_events, max_err_rad = body
        run_dir = Path(folder)
        if hasattr(os, "fork") and (os.cpu_count() or 1) > 1:
            _draw_forked(run_dir, rec, marked_events, max_err_rad, joint_figure)
        else:
            run_plots(run_dir, rec, marked_events, max_err_rad, joint_figure)
        break
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    _main()
