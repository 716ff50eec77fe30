"""The plots every run folder gets, drawn from a `RunRecord` (matplotlib's Agg canvas, no pyplot).

* ``joint_positions.png``: commanded vs measured position of every joint;
* ``tracking_error.png``: the largest joint tracking error over time, with the task's events;
* ``signals.png``: the scalar signals the procedure logged (only when there are some).

A plot is 720 pixels wide: a line of more samples than that is drawn from its envelope (the
minimum and maximum of each of ~1000 bins), which keeps every peak and costs a fraction of
drawing every sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from officina.tasks.base import RunRecord

__all__ = ["run_plots", "envelope"]

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


def run_plots(run_dir: Path, rec: RunRecord, marked_events: Sequence[str], max_err_rad: float) -> list[str]:
    """Write the standard plots; returns their file names."""
    out = []
    t = rec.t
    names = rec.joint_names
    events = [(e["t"], e["event"]) for e in rec.events if e["event"] in set(marked_events)]
    height = 1.5 * len(names) + 1
    fig, axes = _figure(9, height, len(names))
    for i, ax in enumerate(axes):
        ax.plot(*envelope(t, rec.q_ref[:, i]), color="0.6", lw=2.5, label="commanded")
        ax.plot(*envelope(t, rec.q[:, i]), color="C0", lw=1.0, label="measured")
        ax.set_ylabel(f"{names[i]}\n[rad]", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("sim time [s]")
    fig.suptitle("Joint positions")
    _save(fig, run_dir / "joint_positions.png", 1 - 0.45 / height, 0.5 / height)
    out.append("joint_positions.png")

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
