"""PNG plots of a lift: L5/S1 moment and compression over time (with the NIOSH limits), and a
stick-figure strip of the motion. Uses matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from officina.exoskeleton.model import HumanModel, joint_positions

__all__ = ["NIOSH_ACTION_LIMIT_N", "NIOSH_MAX_PERMISSIBLE_LIMIT_N", "plot_compare", "plot_loads", "plot_stick_strip"]

# NIOSH (1981) Work Practices Guide for Manual Lifting: L5/S1 compression limits
NIOSH_ACTION_LIMIT_N = 3400.0
NIOSH_MAX_PERMISSIBLE_LIMIT_N = 6400.0


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_loads(without, with_exo, path: str | Path, title: str = "", exo_name: str = "exo") -> Path:
    """Moment and compression at L5/S1 over time, without and with the exo (``with_exo`` may be None)."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    ax1.plot(without.t, without.l5s1_moment, color="k", label="without exo")
    ax2.plot(without.t, without.compression, color="k", label="without exo")
    if with_exo is not None:
        ax1.plot(with_exo.t, with_exo.l5s1_moment, color="tab:blue", label=f"with {exo_name}")
        ax1.plot(with_exo.t, with_exo.exo_torque, color="tab:green", ls="--", label=f"{exo_name} torque")
        ax2.plot(with_exo.t, with_exo.compression, color="tab:blue", label=f"with {exo_name}")
    ax1.axhline(0.0, color="0.7", lw=0.8)
    ax1.set_ylabel("L5/S1 extensor moment (N m)")
    ax1.legend(loc="upper right", fontsize=8)
    ax2.axhline(NIOSH_ACTION_LIMIT_N, color="tab:orange", ls=":", label="NIOSH action limit 3400 N")
    ax2.axhline(NIOSH_MAX_PERMISSIBLE_LIMIT_N, color="tab:red", ls=":", label="NIOSH max. permissible 6400 N")
    ax2.set_ylim(bottom=min(0.0, float(np.min(without.compression))), top=max(7000.0, 1.1 * float(np.max(without.compression))))
    ax2.set_ylabel("L5/S1 compression (N)")
    ax2.set_xlabel("time (s)")
    ax2.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_stick_strip(model: HumanModel, q: np.ndarray, path: str | Path, n_frames: int = 6, title: str = "", load_kg: float = 0.0) -> Path:
    """``n_frames`` postures of the motion ``q[T, 6]`` side by side (sagittal view, facing right)."""
    plt = _plt()
    q = np.asarray(q, dtype=float)
    picks = np.linspace(0, len(q) - 1, n_frames).round().astype(int)
    fig, ax = plt.subplots(figsize=(2.0 * n_frames, 3.6))
    dx = 0.9 * model.anthro.stature_m
    for i, k in enumerate(picks):
        p = joint_positions(model, q[k])
        off = np.array([i * dx, 0.0])
        chain = [p[n] + off for n in ("ankle", "knee", "hip", "l5s1", "shoulder", "cervicale")]
        ax.plot(*np.array(chain).T, "-o", color="k", ms=3, lw=2)
        arm = [p[n] + off for n in ("shoulder", "elbow", "grip")]
        ax.plot(*np.array(arm).T, "-o", color="tab:blue", ms=3, lw=2)
        head = p["cervicale"] + off + 0.5 * (p["head_top"] - p["cervicale"])
        ax.add_patch(plt.Circle(tuple(head), 0.45 * float(np.linalg.norm(p["head_top"] - p["cervicale"])), fill=False, color="k"))
        foot_x = off[0] + np.array([-model.heel_behind_ankle, model.foot_length - model.heel_behind_ankle])
        ax.plot(foot_x, [0.0, 0.0], color="k", lw=3)
        ax.plot(*(p["l5s1"] + off), "s", color="tab:red", ms=5)
        if load_kg > 0:
            g = p["grip"] + off
            ax.add_patch(plt.Rectangle((g[0] - 0.15, g[1] - 0.2), 0.3, 0.25, color="tab:brown", alpha=0.6))
        ax.text(off[0], -0.12, f"{k / max(len(q) - 1, 1):.0%}", ha="center", fontsize=8)
    ax.axhline(0.0, color="0.5", lw=1)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_compare(report: dict, path: str | Path) -> Path:
    """compare.png: per-lift peak L5/S1 compression without and with each exo against the NIOSH
    3400/6400 N limits (left), and the lifting index of each lift at its origin and destination
    against LI = 1 and the job's composite LI (right). ``report``: `comparison.compare_job`'s."""
    plt = _plt()
    w = report["worker"]
    moves = w["moves"]
    variants = list(w["variants"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [3, 2]})
    n = len(variants)
    width = 0.8 / n
    x = np.arange(len(moves))
    for i, name in enumerate(variants):
        vals = [mv["loads"][name]["peak_compression_n"] for mv in moves]
        ax1.bar(x + (i - (n - 1) / 2) * width, vals, width, label="no exo" if name == "none" else name,
                color="0.3" if name == "none" else None)
    top = max(mv["loads"][v]["peak_compression_n"] for mv in moves for v in variants)
    ax1.axhline(NIOSH_ACTION_LIMIT_N, color="tab:orange", ls=":", label="action limit 3400 N")
    ax1.axhline(NIOSH_MAX_PERMISSIBLE_LIMIT_N, color="tab:red", ls=":", label="max. permissible 6400 N")
    ax1.set_ylim(0, max(7000.0, 1.1 * top))
    ax1.set_xticks(x, [mv["move"] for mv in moves])
    ax1.set_ylabel("peak L5/S1 compression per lift (N)")
    ax1.legend(fontsize=7, loc="upper right", ncol=2)
    ax1.set_title(f"{w['lift_style']} lifts, {w['person']['body_mass_kg']:g} kg / {w['person']['stature_m']:g} m")
    ends = ("origin", "destination")
    for j, end in enumerate(ends):
        li = [mv["niosh"].get(end, {}).get("li") if mv["niosh"].get(end) else None for mv in moves]
        vals = [np.nan if v is None else v for v in li]
        ax2.bar(x + (j - 0.5) * 0.38, vals, 0.38, label=end, color=("tab:blue", "tab:cyan")[j])
    ax2.axhline(1.0, color="tab:red", ls=":", label="LI = 1")
    cli = w["niosh"]["cli"]
    if cli is not None:
        ax2.axhline(cli, color="k", ls="--", lw=0.8, label=f"job CLI {cli:.2f}")
    ax2.set_xticks(x, [mv["move"] for mv in moves])
    ax2.set_ylabel("lifting index (RNLE)")
    ax2.set_title(f"{w['rate_per_min']:.2f} lifts/min, {w['shift_h']:g} h")
    ax2.legend(fontsize=7)
    fig.suptitle(f"{report['task']}: the worker who would do the robot's job")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
