"""The worker who would do a job by hand: NIOSH, low-back loads, cumulative damage, posture score,
with and without exoskeletons. Pure functions over explicit inputs (a `ManualJob`, a `Worker`, a
rate, a shift); the compare command and `officina ros exo` call them.

For each move of the job (:mod:`officina.exoskeleton.job`):

* **RNLE** (:mod:`.niosh`, metric): RWL and LI at the origin and, when the load is placed with
  control, at the destination; FM from the move's own rate and the shift's duration class;
* **Composite Lifting Index** of the moves (Applications Manual, section 2.4; a single move: its LI),
  and the largest total rate at which the job stays at CLI <= 1 (the moves keep their proportions);
* **L5/S1 moment, compression and shear** over a modelled lift: the worker's posture is solved so
  that the grip reaches the origin and the destination (``reach_posture``: the lift style's legs and
  trunk are flexed only as deep as the arms need to reach, the arms solved as a two-link chain),
  the motion between them is a minimum-jerk interpolation of the joint angles, and Pinocchio RNEA
  gives the loads (:func:`officina.exoskeleton.dynamics.inverse_dynamics`), with the load at the
  hands and each back exoskeleton. A motion-capture CSV can replace the modelled lift;
* **LiFFT** (:mod:`.lifft`): the peak load moment from the largest horizontal hip-to-load distance of
  the lift, repetitions = rate x shift; with an exo, Exo-LiFFT subtracts the exo's reduction of the
  L5/S1 extensor moment at the lift's peak;
* **REBA** (:mod:`.reba`) at the origin and destination postures.

What an exoskeleton changes here: the L5/S1 loads and LiFFT. The RNLE has no term for an
exoskeleton and REBA scores the posture, which the exo does not change in this model: those figures
are reported unchanged, with the reason.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from officina.exoskeleton.dynamics import LiftLoads, inverse_dynamics
from officina.exoskeleton.exo import ActiveBackExo, PassiveBackExo, exo_by_name
from officina.exoskeleton.job import ManualJob, Move
from officina.exoskeleton.lifft import (
    LIFFT_CAUTION_PLM_NM, LifftTask, cumulative_damage, exo_peak_load_moment, peak_load_moment,
)
from officina.exoskeleton.lifts import STYLES, Lift, load_lift_csv, style_posture
from officina.exoskeleton.model import JOINTS, HumanModel, human_model, joint_positions, segment_angles
from officina.exoskeleton.niosh import NioshTask, composite_lifting_index, evaluate
from officina.exoskeleton.reba import RebaInput, reba

__all__ = [
    "BACK_EXO_NAMES", "MOTION_EXTRA_COLUMNS", "RNLE_MAX_SHIFT_H", "TWIST_THRESHOLD_DEG", "Motion", "PostureLoads",
    "Worker", "back_exo", "duration_class", "evaluate_job", "load_motion_csv", "max_rate",
    "move_lift", "niosh_job", "niosh_tasks", "posture_loads", "reach_posture", "reba_at",
]

BACK_EXO_NAMES = ("passive", "active", "laevo", "spexor", "plad", "xotrunk")
# The RNLE does not apply to lifting for over 8 h (Waters, ch. 46 of Marras & Karwowski (eds.),
# *Fundamentals and Assessment Tools for Occupational Ergonomics*, 2006, section 46.3; manual,
# section 1.2): a longer shift keeps the long (2-8 h) duration class, with a warning.
RNLE_MAX_SHIFT_H = 8.0
# An asymmetric reach twists the trunk in REBA's sense from this angle on (REBA gives none).
TWIST_THRESHOLD_DEG = 20.0
# A neck posture is not in the sagittal model: assumed 10 deg of flexion (REBA neck score 1).
ASSUMED_NECK_FLEXION_DEG = 10.0
MOTION_EXTRA_COLUMNS = ("neck_flexion_deg", "wrist_flexion_deg", "trunk_twist_deg")


@dataclass(frozen=True)
class Worker:
    """The person: de Leva (1996) body, and the lift style used to reach low loads."""

    body_mass_kg: float = 75.0
    stature_m: float = 1.75
    sex: str = "male"
    lift_style: str = "stoop"

    def __post_init__(self) -> None:
        if self.lift_style not in STYLES:
            raise ValueError(f"lift style: expected one of {', '.join(STYLES)}, got {self.lift_style!r}")

    def model(self) -> HumanModel:
        return human_model(self.body_mass_kg, self.stature_m, self.sex)


def back_exo(name: str):
    """The back exoskeleton called ``name`` (None for ``none``); a shoulder exo is refused."""
    exo = exo_by_name(name)
    if exo is not None and not isinstance(exo, (PassiveBackExo, ActiveBackExo)):
        raise ValueError(f"exo: {name} is a shoulder exoskeleton; expected a back exoskeleton "
                         f"({', '.join(BACK_EXO_NAMES)})")
    return exo


def duration_class(shift_h: float) -> str:
    """The RNLE's duration class of a shift: short <= 1 h, moderate <= 2 h, long <= 8 h."""
    h = float(shift_h)
    if not (math.isfinite(h) and 0.0 < h <= 12.0):
        raise ValueError(f"shift: expected 0 to 12 h, got {shift_h!r}")
    return "short" if h <= 1.0 else ("moderate" if h <= 2.0 else "long")


# --- postures and lifts ------------------------------------------------------------------------

def _shoulder(model: HumanModel, q) -> np.ndarray:
    return joint_positions(model, q)["shoulder"]


def _arm_ik(model: HumanModel, q_body: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Shoulder and elbow angles that put the grip at ``target`` (x, z) for the legs and trunk of
    ``q_body``; elbow flexed forward (0 <= elbow). None when out of reach."""
    s = _shoulder(model, q_body)
    r = np.asarray(target, float) - s
    d = float(np.hypot(*r))
    l1, l2 = model.upper_arm, model.grip_below_elbow
    if d > l1 + l2 or d < abs(l1 - l2) or d == 0.0:
        return None
    phi = math.atan2(r[0], -r[1])  # from hanging down, forward positive
    gamma = math.acos(max(-1.0, min(1.0, (l1 * l1 + d * d - l2 * l2) / (2 * l1 * d))))
    delta = math.acos(max(-1.0, min(1.0, (l2 * l2 + d * d - l1 * l1) / (2 * l2 * d))))
    alpha, beta = phi - gamma, phi + delta  # absolute elevations of the upper arm and the forearm
    q = np.array(q_body, float)
    trunk = float(segment_angles(q)["trunk"])
    q[4] = trunk + alpha
    q[5] = beta - alpha
    return q


def reach_posture(model: HumanModel, style: str, h_m: float, v_m: float, reach_fraction: float = 0.97) -> np.ndarray:
    """Joint angles (rad, JOINTS order) with the grip at ``h_m`` in front of the ankles and ``v_m``
    above the floor: the style's legs and trunk flexed only as deep as needed for the arms (at most
    ``reach_fraction`` of their length, elbows slightly bent) to reach."""
    target = np.array([float(h_m), float(v_m)])
    l_reach = reach_fraction * (model.upper_arm + model.grip_below_elbow)

    def dist(s: float) -> float:
        return float(np.hypot(*(target - _shoulder(model, style_posture(style, s)))))

    grid = np.linspace(0.0, 1.0, 41)
    ok = [s for s in grid if dist(s) <= l_reach]
    if not ok:
        raise ValueError(
            f"hands at H = {h_m:.2f} m, V = {v_m:.2f} m are out of this worker's reach in a {style} "
            f"lift; bring the load closer or use the other lift style")
    s_hi = ok[0]
    s_lo = max(0.0, s_hi - grid[1])
    if s_hi > 0.0 and dist(s_lo) > l_reach:
        for _ in range(50):
            mid = 0.5 * (s_lo + s_hi)
            if dist(mid) <= l_reach:
                s_hi = mid
            else:
                s_lo = mid
    q = _arm_ik(model, style_posture(style, s_hi), target)
    if q is None:  # pragma: no cover - the search above guarantees reach
        raise ValueError(f"hands at H = {h_m:.2f} m, V = {v_m:.2f} m: no arm posture reaches them")
    return q


def move_lift(q0: np.ndarray, q1: np.ndarray, load_kg: float, name: str, duration_s: float = 1.5,
              hold_s: float = 0.2, dt: float = 0.005) -> Lift:
    """A lift from posture ``q0`` to ``q1`` with a minimum-jerk time law (Flash & Hogan 1985),
    ``hold_s`` still at each end."""
    if not (0.2 <= duration_s <= 20.0):
        raise ValueError(f"lift duration: expected 0.2 to 20 s, got {duration_s!r}")
    n = int(round((duration_s + 2 * hold_s) / dt)) + 1
    t = np.arange(n) * dt
    tau = np.clip((t - hold_s) / duration_s, 0.0, 1.0)
    inside = ((t - hold_s) >= 0) & ((t - hold_s) <= duration_s)
    p = 10 * tau**3 - 15 * tau**4 + 6 * tau**5
    dp = np.where(inside, 30 * tau**2 - 60 * tau**3 + 30 * tau**4, 0.0) / duration_s
    ddp = np.where(inside, 60 * tau - 180 * tau**2 + 120 * tau**3, 0.0) / duration_s**2
    dq = np.asarray(q1, float) - np.asarray(q0, float)
    q = np.asarray(q0, float) + p[:, None] * dq
    return Lift(name=name, t=t, q=q, qd=dp[:, None] * dq, qdd=ddp[:, None] * dq, load_kg=float(load_kg))


@dataclass(frozen=True)
class Motion:
    """A recorded lift (motion capture) and the optional REBA columns it carried (deg, per sample)."""

    lift: Lift
    extras: dict
    source: str


def load_motion_csv(path: str | Path, load_kg: float) -> Motion:
    """A measured lift from CSV: ``t_s`` (s) and the six joint angles of the sagittal model, each as
    ``<joint>_deg`` or ``<joint>_rad`` (ankle, knee, hip, l5s1, shoulder, elbow; signs as in
    :mod:`officina.exoskeleton.model`); optional ``neck_flexion_deg``, ``wrist_flexion_deg`` and
    ``trunk_twist_deg`` for REBA. The first sample is the origin posture, the last the destination."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"motion CSV not found: {path}")
    try:
        with path.open(newline="") as fh:
            rows = [r for r in csv.reader(fh) if r]
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file; expected a CSV with t_s and <joint>_deg columns") from None
    if not rows:
        raise ValueError(f"{path}: empty file; expected a header with t_s and <joint>_deg columns")
    header = [h.strip().lower() for h in rows[0]]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise ValueError(f"{path}: line {i} has {len(r)} values, the header has {len(header)}")
    missing = [j for j in JOINTS if f"{j}_deg" not in header and f"{j}_rad" not in header]
    if missing:
        raise ValueError(f"{path}: missing joint columns {', '.join(m + '_deg' for m in missing)} "
                         f"(expected t_s and {', '.join(j + '_deg' for j in JOINTS)})")
    lift = load_lift_csv(path, load_kg)
    extras = {}
    t_raw = np.array([float(r[header.index(next(h for h in header if h in ('t_s', 'time_s', 't', 'time')))])
                      for r in rows[1:]])
    for name in MOTION_EXTRA_COLUMNS:
        if name in header:
            try:
                vals = np.array([float(r[header.index(name)]) for r in rows[1:]])
            except ValueError as exc:
                raise ValueError(f"{path}: column {name}: non-numeric value ({exc})") from None
            extras[name] = np.interp(lift.t + t_raw[0], t_raw, vals)
    return Motion(lift=lift, extras=extras, source=str(path))


# --- loads of one posture (shared with `officina ros exo`) -------------------------------------

@dataclass(frozen=True)
class PostureLoads:
    """L5/S1 loads of one posture (extensor moment N m, compression N, anterior shear N, axial
    reaction N) with and without a back exo, and the device's torque and pad forces (N m, N)."""

    moment: float
    compression: float
    shear: float
    axial: float
    moment_no_exo: float
    compression_no_exo: float
    shear_no_exo: float
    axial_no_exo: float
    exo_torque: float
    chest_force: float
    thigh_force: float
    pelvis_force: float


def posture_loads(model: HumanModel, q, load_kg: float, exo=None, qd=None, qdd=None) -> PostureLoads:
    """Inverse dynamics of one posture (velocities/accelerations zero unless given), with and
    without ``exo``: the same RNEA as a whole lift, on a two-sample motion standing still in time."""
    q = np.asarray(q, float).reshape(len(JOINTS))
    qd = np.zeros(len(JOINTS)) if qd is None else np.asarray(qd, float).reshape(len(JOINTS))
    qdd = np.zeros(len(JOINTS)) if qdd is None else np.asarray(qdd, float).reshape(len(JOINTS))
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(qd)) and np.all(np.isfinite(qdd))):
        raise ValueError("posture: non-finite joint angles, velocities or accelerations")
    rep = lambda a: np.repeat(a[None, :], 2, axis=0)  # noqa: E731
    lift = Lift("posture", np.array([0.0, 0.01]), rep(q), rep(qd), rep(qdd), float(load_kg))
    without = inverse_dynamics(model, lift, None)
    with_exo = inverse_dynamics(model, lift, exo) if exo is not None else without
    r = model.muscle_moment_arm_m

    def axial(ld: LiftLoads) -> float:
        return float(ld.compression[0] - max(float(ld.l5s1_moment[0]), 0.0) / r)

    return PostureLoads(
        float(with_exo.l5s1_moment[0]), float(with_exo.compression[0]), float(with_exo.shear[0]), axial(with_exo),
        float(without.l5s1_moment[0]), float(without.compression[0]), float(without.shear[0]), axial(without),
        float(with_exo.exo_torque[0]), float(with_exo.chest_force[0]), float(with_exo.thigh_force[0]),
        float(with_exo.pelvis_force[0]),
    )


# --- NIOSH -------------------------------------------------------------------------------------

def _move_rates(job: ManualJob, rate_per_min: float) -> dict[str, float]:
    r = float(rate_per_min)
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"rate: expected a positive number of lifts per minute, got {rate_per_min!r}")
    return {m.name: r * m.count_per_cycle / job.lifts_per_cycle for m in job.moves}


def niosh_tasks(job: ManualJob, rate_per_min: float, shift_h: float) -> list[NioshTask]:
    """The job's moves as RNLE tasks (metric: cm, kg), each at its share of the total rate."""
    dur = duration_class(shift_h)
    rates = _move_rates(job, rate_per_min)
    out = []
    for m in job.moves:
        o, d = m.origin, m.destination
        kw = dict(h_dest=100 * d.h_m, v_dest=100 * d.v_m, a_dest=d.asymmetry_deg) if m.control_at_destination else {}
        out.append(NioshTask(load=m.load_kg, h=100 * o.h_m, v=100 * o.v_m, a=o.asymmetry_deg, freq=rates[m.name],
                             duration=dur, coupling=m.coupling, d=100 * m.travel_m, units="metric", **kw))
    return out


def niosh_job(job: ManualJob, rate_per_min: float, shift_h: float) -> dict:
    """RNLE per move (origin and destination) and the job's composite lifting index."""
    tasks = niosh_tasks(job, rate_per_min, shift_h)
    moves = []
    for m, t in zip(job.moves, tasks):
        r = evaluate(t)
        moves.append({"move": m.name, "freq_per_min": t.freq, **r.as_dict()})
    c = composite_lifting_index(tasks)
    cli = c["cli"]
    cli_tasks = [{"move": job.moves[r["index"]].name,
                  **{k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in r.items()}}
                 for r in c["tasks"]]
    return {"duration": duration_class(shift_h), "moves": moves, "cli": cli if math.isfinite(cli) else None,
            "cli_tasks": cli_tasks}


def max_rate(job: ManualJob, shift_h: float, rate_cap_per_min: float = 100.0) -> dict:
    """The largest total rate (lifts/min, the moves in their proportions) at which CLI <= 1.

    ``limited_by``: ``"lifting index"`` (CLI reaches 1), ``"frequency table"`` (CLI is still <= 1
    where Table 5 ends: FM = 0 beyond), or ``"load"`` (CLI > 1 at any rate: 0 lifts/min)."""

    def cli(r: float) -> float:
        v = composite_lifting_index(niosh_tasks(job, r, shift_h))["cli"]
        return v if math.isfinite(v) else math.inf

    lo = 1e-3
    if cli(lo) > 1.0:
        return {"max_rate_per_min": 0.0, "limited_by": "load"}
    hi = rate_cap_per_min
    if cli(hi) <= 1.0:
        return {"max_rate_per_min": hi, "limited_by": "rate cap"}
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if cli(mid) <= 1.0:
            lo = mid
        else:
            hi = mid
    limited = "frequency table" if math.isinf(cli(hi)) and cli(lo) < 0.999 else "lifting index"
    return {"max_rate_per_min": lo, "limited_by": limited}


# --- REBA --------------------------------------------------------------------------------------

def reba_at(q, move: Move, asymmetry_deg: float, rate_per_min: float, extras: dict | None = None) -> dict:
    """REBA of posture ``q`` holding ``move``'s load (model angles in, score out)."""
    q = np.asarray(q, float)
    d = math.degrees
    ex = extras or {}
    twist = max(float(asymmetry_deg), abs(float(ex.get("trunk_twist_deg", 0.0))))
    inp = RebaInput(
        trunk_flexion_deg=d(float(segment_angles(q)["trunk"])),
        neck_flexion_deg=float(ex.get("neck_flexion_deg", ASSUMED_NECK_FLEXION_DEG)),
        knee_flexion_deg=d(q[1]),
        upper_arm_flexion_deg=d(q[4]),
        elbow_flexion_deg=d(q[5]),
        wrist_flexion_deg=float(ex.get("wrist_flexion_deg", 0.0)),
        load_kg=move.load_kg,
        coupling=move.coupling,
        trunk_twisted=twist >= TWIST_THRESHOLD_DEG,
        repeated_over_4_per_min=rate_per_min > 4.0,
    )
    res = reba(inp)
    return {"angles_deg": {"trunk_flexion": inp.trunk_flexion_deg, "knee_flexion": inp.knee_flexion_deg,
                           "upper_arm_flexion": inp.upper_arm_flexion_deg, "elbow_flexion": inp.elbow_flexion_deg,
                           "neck_flexion": inp.neck_flexion_deg, "wrist_flexion": inp.wrist_flexion_deg,
                           "trunk_twist": twist},
            **res.as_dict()}


# --- the whole job -----------------------------------------------------------------------------

def _peaks(ld: LiftLoads) -> dict:
    return {"peak_l5s1_moment_nm": float(np.max(ld.l5s1_moment)), "peak_compression_n": float(np.max(ld.compression)),
            "peak_shear_n": float(np.max(np.abs(ld.shear)))}


def evaluate_job(job: ManualJob, worker: Worker, rate_per_min: float, shift_h: float = 8.0,
                 exos: tuple[str, ...] = (), motions: dict[str, Motion] | None = None,
                 lift_duration_s: float = 1.5) -> dict:
    """Every worker-side figure of ``job`` at ``rate_per_min`` total lifts per minute over a shift of
    ``shift_h`` hours, for the worker alone (``"none"``) and with each back exo of ``exos``.
    ``motions`` maps move names to measured lifts that replace the modelled ones."""
    motions = dict(motions or {})
    unknown = [k for k in motions if k not in {m.name for m in job.moves}]
    if unknown:
        raise ValueError(f"motion CSV for move {unknown[0]!r}: expected one of {', '.join(m.name for m in job.moves)}")
    devices = {"none": None}
    for name in exos:
        key = str(name).strip().lower()
        if key == "none":
            continue
        devices[key] = back_exo(key)
    model = worker.model()
    rates = _move_rates(job, rate_per_min)
    reps = {k: v * 60.0 * float(shift_h) for k, v in rates.items()}
    niosh = niosh_job(job, rate_per_min, shift_h)
    mr = max_rate(job, shift_h)
    warnings: list[str] = []
    if float(shift_h) > RNLE_MAX_SHIFT_H:
        warnings.append(f"the shift is {float(shift_h):g} h: the RNLE does not apply to lifting for over "
                        f"{RNLE_MAX_SHIFT_H:g} h; its figures use the long (2-8 h) duration class")
    moves_out = []
    lifft_tasks: dict[str, list[LifftTask]] = {k: [] for k in devices}
    for m, nres in zip(job.moves, niosh["moves"]):
        if m.carry_m > 0:
            warnings.append(f"{m.name}: the load is carried {m.carry_m:g} m; carrying is outside the RNLE and LiFFT")
        if m.name in motions:
            mot = motions[m.name]
            lift = Lift(mot.lift.name, mot.lift.t, mot.lift.q, mot.lift.qd, mot.lift.qdd, m.load_kg)
            q0, q1 = lift.q[0], lift.q[-1]
            ex0 = {k: float(v[0]) for k, v in mot.extras.items()}
            ex1 = {k: float(v[-1]) for k, v in mot.extras.items()}
            source = f"motion capture ({mot.source})"
        else:
            q0 = reach_posture(model, worker.lift_style, m.origin.h_m, m.origin.v_m)
            q1 = reach_posture(model, worker.lift_style, m.destination.h_m, m.destination.v_m)
            lift = move_lift(q0, q1, m.load_kg, m.name, lift_duration_s)
            ex0 = ex1 = {}
            source = f"modelled {worker.lift_style} lift, {lift_duration_s:g} s, minimum jerk"
        p = joint_positions(model, lift.q)
        hip_to_load = float(np.max(np.abs(p["grip"][:, 0] - p["hip"][:, 0])))
        plm = peak_load_moment(m.load_kg, hip_to_load)
        base = inverse_dynamics(model, lift, None)
        k_peak = int(np.argmax(base.l5s1_moment))
        loads = {}
        for name, dev in devices.items():
            ld = base if dev is None else inverse_dynamics(model, lift, dev)
            relief = float(base.l5s1_moment[k_peak] - ld.l5s1_moment[k_peak])
            plm_x, valid = exo_peak_load_moment(plm, relief) if dev is not None else (plm, True)
            if not valid:
                warnings.append(f"{m.name} with {name}: the exo's moment ({relief:.1f} N m) exceeds the load moment "
                                f"({plm:.1f} N m), outside Exo-LiFFT; its load moment is taken as 0")
            loads[name] = {**_peaks(ld), "exo_moment_at_peak_nm": relief, "lifft_plm_nm": plm_x,
                           "exo_lifft_valid": valid}
            lifft_tasks[name].append(LifftTask(m.name, plm_x, reps[m.name]))
        if plm > LIFFT_CAUTION_PLM_NM:
            warnings.append(f"{m.name}: peak load moment {plm:.0f} N m is above the {LIFFT_CAUTION_PLM_NM:.0f} N m "
                            "up to which LiFFT's authors recommend it without caution")
        moves_out.append({
            "move": m.name, "rate_per_min": rates[m.name], "reps_per_shift": reps[m.name],
            "niosh": nres, "lift": source, "hip_to_load_m": hip_to_load, "lifft_plm_nm": plm,
            "postures_rad": {"origin": [float(x) for x in q0], "destination": [float(x) for x in q1]},
            "reba": {"origin": reba_at(q0, m, m.origin.asymmetry_deg, rate_per_min, ex0),
                     "destination": reba_at(q1, m, m.destination.asymmetry_deg, rate_per_min, ex1)},
            "loads": loads,
        })
    variants = {}
    for name in devices:
        lf = cumulative_damage(lifft_tasks[name])
        variants[name] = {
            "peak_l5s1_moment_nm": max(mv["loads"][name]["peak_l5s1_moment_nm"] for mv in moves_out),
            "peak_compression_n": max(mv["loads"][name]["peak_compression_n"] for mv in moves_out),
            "peak_shear_n": max(mv["loads"][name]["peak_shear_n"] for mv in moves_out),
            "lifft_cumulative_damage": lf["cumulative_damage"],
            "lifft_p_high_risk": lf["p_high_risk"],
            "cli": niosh["cli"],
            "max_rate_per_min": mr["max_rate_per_min"],
            "reba_max": max(max(mv["reba"]["origin"]["score"], mv["reba"]["destination"]["score"]) for mv in moves_out),
        }
    ref = variants["none"]
    for name, v in variants.items():
        v["change"] = {k: (v[k] - ref[k]) if v[k] is not None and ref[k] is not None else None
                       for k in ("peak_l5s1_moment_nm", "peak_compression_n", "peak_shear_n",
                                 "lifft_cumulative_damage", "lifft_p_high_risk", "cli", "max_rate_per_min", "reba_max")}
        v["change_pct"] = {k: (100.0 * (v[k] - ref[k]) / ref[k]) if ref[k] else 0.0
                           for k in ("peak_l5s1_moment_nm", "peak_compression_n", "peak_shear_n", "lifft_cumulative_damage")}
        if name != "none":
            dev = devices[name]
            v["source"] = getattr(dev, "source", "")
            v["unchanged"] = {"cli": "the RNLE has no term for an exoskeleton",
                              "max_rate_per_min": "the RNLE has no term for an exoskeleton",
                              "reba_max": "REBA scores the posture; the exo does not change it in this model"}
    return {
        "person": {"body_mass_kg": worker.body_mass_kg, "stature_m": worker.stature_m, "sex": model.anthro.sex},
        "lift_style": worker.lift_style, "rate_per_min": float(rate_per_min), "shift_h": float(shift_h),
        "lifts_per_shift": float(rate_per_min) * 60.0 * float(shift_h),
        "niosh": {**niosh, **mr}, "moves": moves_out, "variants": variants, "warnings": warnings,
    }
