"""The plots every run folder gets, drawn from a `RunRecord` (matplotlib, Agg).

* ``joint_positions.png``: commanded vs measured position of every joint;
* ``tracking_error.png``: the largest joint tracking error over time, with the task's events;
* ``signals.png``: the scalar signals the procedure logged (only when there are some).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from officina.tasks.base import RunRecord

__all__ = ["run_plots"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mark_events(ax, events: Sequence[tuple[float, str]]) -> None:
    top = ax.get_ylim()[1]
    for te, what in events:
        ax.axvline(te, color="0.8", lw=0.8, zorder=0)
        ax.text(te, top, what, rotation=90, fontsize=6, va="top", color="0.4")


def run_plots(run_dir: Path, rec: RunRecord, marked_events: Sequence[str], max_err_rad: float) -> list[str]:
    """Write the standard plots; returns their file names."""
    plt = _pyplot()
    out = []
    t = rec.t
    names = rec.joint_names
    events = [(e["t"], e["event"]) for e in rec.events if e["event"] in set(marked_events)]
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.5 * len(names) + 1), sharex=True)
    axes = np.atleast_1d(axes)
    for i, ax in enumerate(axes):
        ax.plot(t, rec.q_ref[:, i], color="0.6", lw=2.5, label="commanded")
        ax.plot(t, rec.q[:, i], color="C0", lw=1.0, label="measured")
        ax.set_ylabel(f"{names[i]}\n[rad]", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("sim time [s]")
    fig.suptitle("Joint positions")
    fig.tight_layout()
    fig.savefig(run_dir / "joint_positions.png", dpi=80)
    plt.close(fig)
    out.append("joint_positions.png")

    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(t, np.rad2deg(rec.tracking_error), color="C3", lw=1.0)
    ax.set_xlabel("sim time [s]")
    ax.set_ylabel("max |q_ref - q| [deg]")
    ax.set_title(f"Joint tracking error (max {np.rad2deg(max_err_rad):.3f} deg at the control rate)")
    _mark_events(ax, events)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "tracking_error.png", dpi=80)
    plt.close(fig)
    out.append("tracking_error.png")

    if rec.signals:
        fig, axes = plt.subplots(len(rec.signals), 1, figsize=(9, 2.2 * len(rec.signals) + 0.6), sharex=True)
        for ax, (name, samples) in zip(np.atleast_1d(axes), sorted(rec.signals.items())):
            s = np.asarray(samples, dtype=float).reshape(-1, 2)
            ax.plot(s[:, 0], s[:, 1], color="C1", lw=1.0)
            ax.set_ylabel(name, fontsize=8)
            ax.grid(alpha=0.3)
            _mark_events(ax, events)
        np.atleast_1d(axes)[-1].set_xlabel("sim time [s]")
        fig.suptitle("Signals")
        fig.tight_layout()
        fig.savefig(run_dir / "signals.png", dpi=80)
        plt.close(fig)
        out.append("signals.png")
    return out
