"""Robot versus worker on the same job: the side-by-side report of `officina compare`.

`compare_job` takes the robot's run metrics (``success``, ``cycle_time_s``: the keys every run
has) and a task's `ManualJob`, evaluates the worker with :func:`officina.exoskeleton.worker.evaluate_job`
(alone and with each back exoskeleton) at the robot's rate or a given one, and returns one JSON-able
dict: the robot side, the worker side, the rows of the side-by-side table and the lines a production
engineer can act on. It knows no task: the caller runs the task and asks it for its manual job.
"""

from __future__ import annotations

import math

from officina.exoskeleton.job import ManualJob
from officina.exoskeleton.plots import NIOSH_ACTION_LIMIT_N, NIOSH_MAX_PERMISSIBLE_LIMIT_N
from officina.exoskeleton.worker import Motion, Worker, evaluate_job

__all__ = ["SOURCES", "actions", "compare_job", "robot_side", "table_rows", "to_markdown"]

SOURCES = {
    "rnle": "Waters, Putz-Anderson, Garg, Applications Manual for the Revised NIOSH Lifting Equation, "
            "DHHS (NIOSH) 94-110 (1994, rev. 2021); composite lifting index: section 2.4",
    "compression_limits": "NIOSH (1981) Work Practices Guide for Manual Lifting: 3400 N action limit, "
                          "6400 N maximum permissible limit",
    "lifft": "Gallagher, Sesek, Schall, Huangfu (2017) Applied Ergonomics 63:142-150; risk coefficients "
             "and Exo-LiFFT: Zelik et al. (2022) Applied Ergonomics 99:103619",
    "reba": "Hignett & McAtamney (2000) Applied Ergonomics 31:201-205",
    "anthropometry": "de Leva (1996) J Biomech 29:1223-1230",
}

_FIX = {
    "HM": "bring the load closer to the body (H = {h:.0f} cm; HM = 1 at H <= 25 cm)",
    "VM": "move the hands towards knuckle height (V = {v:.0f} cm; VM = 1 at V = 75 cm)",
    "DM": "shorten the vertical travel (D = {d:.0f} cm)",
    "AM": "remove the twist: face the load or put the destination in front (A = {a:.0f} deg)",
    "FM": "lower the rate or share the lifts between workers (F = {f:.2g} lifts/min)",
    "CM": "give the load handles or a better grip (coupling {c})",
}


def robot_side(metrics: dict, lifts_per_cycle: int) -> dict:
    """Success, cycle time and throughput of a robot run (``metrics`` as in metrics.json)."""
    ct = float(metrics["cycle_time_s"])
    if not (math.isfinite(ct) and ct > 0):
        raise ValueError(f"robot run: expected a positive cycle_time_s, got {metrics.get('cycle_time_s')!r}")
    return {
        "success": bool(metrics["success"]),
        "cycle_time_s": ct,
        "items_per_cycle": int(lifts_per_cycle),
        "items_per_hour": 3600.0 * lifts_per_cycle / ct,
        "lifts_per_min": 60.0 * lifts_per_cycle / ct,
        "robot": metrics.get("robot"),
        "seed": metrics.get("seed"),
    }


def compare_job(job: ManualJob, worker: Worker, *, robot_metrics: dict | None = None,
                rate_per_min: float | None = None, shift_h: float = 8.0, exos: tuple[str, ...] = (),
                motions: dict[str, Motion] | None = None, lift_duration_s: float = 1.5) -> dict:
    """The whole comparison (see the module docstring). ``rate_per_min`` None: the robot's rate."""
    robot = robot_side(robot_metrics, job.lifts_per_cycle) if robot_metrics is not None else None
    if rate_per_min is None:
        if robot is None:
            raise ValueError("rate: give a rate in lifts per minute, or a robot run to match")
        rate, rate_source = robot["lifts_per_min"], "robot"
    else:
        rate, rate_source = float(rate_per_min), "given"
    w = evaluate_job(job, worker, rate, shift_h, exos, motions, lift_duration_s)
    report = {
        "task": job.task,
        "job": job.as_dict(),
        "robot": robot,
        "worker": w,
        "rate": {"lifts_per_min": rate, "source": rate_source, "items_per_hour": 60.0 * rate,
                 "cycle_time_s": 60.0 * job.lifts_per_cycle / rate},
        "limits": {"action_limit_n": NIOSH_ACTION_LIMIT_N, "maximum_permissible_limit_n": NIOSH_MAX_PERMISSIBLE_LIMIT_N},
        "sources": SOURCES,
    }
    report["table"] = table_rows(report)
    report["actions"] = actions(report)
    return report


def _f(x, fmt: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, fmt)


def _pct(v: dict, key: str) -> str:
    p = v.get("change_pct", {}).get(key)
    return "" if not p else f" ({p:+.0f} %)"


def table_rows(report: dict) -> dict:
    """The side-by-side table: ``columns`` (robot, worker, worker + each exo) and ``rows`` of
    [label, cell per column] as strings (peak loads are per lift, the worst move; changes against
    the worker without an exo in parentheses)."""
    robot, w, rate = report["robot"], report["worker"], report["rate"]
    variants = w["variants"]
    names = list(variants)
    cols = ["robot"] + ["worker" if n == "none" else f"+{n}" for n in names]
    dash = "-"
    rows = []

    def row(label, robot_cell, fn):
        rows.append([label, robot_cell] + [fn(n, variants[n]) for n in names])

    row("job done", dash if robot is None else ("yes" if robot["success"] else "NO"), lambda n, v: "model")
    row("cycle time s", dash if robot is None else f"{robot['cycle_time_s']:.1f}", lambda n, v: f"{rate['cycle_time_s']:.1f}")
    row("items per hour", dash if robot is None else f"{robot['items_per_hour']:.0f}", lambda n, v: f"{rate['items_per_hour']:.0f}")
    row("lifting index CLI", dash, lambda n, v: _f(v["cli"], ".2f"))
    row("max rate LI<=1 /min", dash, lambda n, v: _f(v["max_rate_per_min"], ".1f"))
    row("L5/S1 moment N m", dash, lambda n, v: f"{v['peak_l5s1_moment_nm']:.0f}{_pct(v, 'peak_l5s1_moment_nm')}")
    row("L5/S1 compress. N", dash, lambda n, v: f"{v['peak_compression_n']:.0f}{_pct(v, 'peak_compression_n')}")
    row("L5/S1 shear N", dash, lambda n, v: f"{v['peak_shear_n']:.0f}{_pct(v, 'peak_shear_n')}")
    row("LiFFT damage/shift", dash, lambda n, v: f"{v['lifft_cumulative_damage']:.2g}{_pct(v, 'lifft_cumulative_damage')}")
    row("P(high-risk job)", dash, lambda n, v: f"{100 * v['lifft_p_high_risk']:.0f} %")
    row("REBA, worst end", dash, lambda n, v: str(v["reba_max"]))
    return {"columns": cols, "rows": rows}


def _zone(c: float) -> str:
    if c > NIOSH_MAX_PERMISSIBLE_LIMIT_N:
        return f"above the {NIOSH_MAX_PERMISSIBLE_LIMIT_N:.0f} N maximum permissible limit"
    if c > NIOSH_ACTION_LIMIT_N:
        return f"above the {NIOSH_ACTION_LIMIT_N:.0f} N action limit"
    return f"below the {NIOSH_ACTION_LIMIT_N:.0f} N action limit"


def actions(report: dict) -> list[str]:
    """Lines a production engineer can act on: which lift exceeds what, by how much, and what each
    exoskeleton changes."""
    out: list[str] = []
    robot, w, rate = report["robot"], report["worker"], report["rate"]
    job = {m["name"]: m for m in report["job"]["moves"]}
    if robot is not None:
        done = "does the job" if robot["success"] else "did NOT complete the job"
        n = robot["items_per_cycle"]
        out.append(f"Robot: {done}, {robot['items_per_hour']:.0f} items/h ({robot['cycle_time_s']:.1f} s per "
                   f"{n} item{'' if n == 1 else 's'}).")
    out.append(f"Worker at {rate['lifts_per_min']:.2f} lifts/min ({'the robot' if rate['source'] == 'robot' else 'given'} rate), "
               f"{w['shift_h']:g} h shift ({w['niosh']['duration']} duration), {w['lift_style']} lifts.")
    mr, lim = w["niosh"]["max_rate_per_min"], w["niosh"]["limited_by"]
    for mv in w["moves"]:
        n = mv["niosh"]
        spec = job[mv["move"]]
        for end in ("origin", "destination"):
            p = n.get(end)
            if p is None:
                continue
            li = p["li"]
            if li is None or li > 1.0:
                # when no rate is low enough, the fix is not the rate
                skip = ("LC", "FM") if mr <= 0.0 else ("LC",)
                mult = {k: v for k, v in p["multipliers"].items() if k not in skip}
                worst = min(mult, key=mult.get)
                lis = "outside the equation (RWL 0)" if li is None else f"LI {li:.2f} ({100 * (li - 1):.0f} % over the RWL of {p['rwl']:.1f} kg)"
                if mult[worst] >= 1.0:
                    # a multiplier of 1 takes nothing off the load constant: only the load is left
                    out.append(f"{mv['move']}, {end}: {lis}; no multiplier is below 1 to improve: lighten the load "
                               f"({spec['load_kg']:g} kg) to the RWL or less, or share the lift.")
                    continue
                loc = spec[end]
                fix = _FIX[worst].format(h=100 * loc["h_m"], v=100 * loc["v_m"], d=100 * spec["vertical_travel_m"],
                                         a=loc["asymmetry_deg"], f=mv["rate_per_min"], c=spec["coupling"])
                out.append(f"{mv['move']}, {end}: {lis}; improve {worst} = {mult[worst]:.2f} first: {fix}.")
    cli = w["niosh"]["cli"]
    if cli is not None and cli <= 1.0:
        out.append(f"RNLE: every lift at LI <= 1 (job CLI {cli:.2f}): acceptable for nearly all healthy workers at this rate.")
    else:
        out.append(f"RNLE: job CLI {_f(cli, '.2f')} > 1: the job exceeds the recommended limits at this rate.")
    if mr <= 0.0:
        out.append("No rate keeps this job at LI <= 1: change the load or the layout, or automate it.")
    else:
        why = {"frequency table": "where the RNLE's frequency table ends",
               "lifting index": "where the CLI reaches 1", "rate cap": "the search's cap"}[lim]
        line = f"One worker stays at LI <= 1 up to {mr:.1f} lifts/min ({60 * mr:.0f} items/h; {why})"
        if rate["lifts_per_min"] > mr:
            need = math.ceil(rate["lifts_per_min"] / mr - 1e-9)
            line += f"; this rate needs {need} workers sharing the lifts"
        out.append(line + ".")
    none = w["variants"]["none"]
    c0 = none["peak_compression_n"]
    out.append(f"Peak L5/S1 compression {c0:.0f} N: {_zone(c0)}; LiFFT: P(high-risk job) "
               f"{100 * none['lifft_p_high_risk']:.0f} % (cumulative damage {none['lifft_cumulative_damage']:.2g} per shift).")
    for name, v in w["variants"].items():
        if name == "none":
            continue
        c = v["peak_compression_n"]
        cross = ""
        if (c0 > NIOSH_ACTION_LIMIT_N) != (c > NIOSH_ACTION_LIMIT_N):
            cross = "; crosses the action limit"
        out.append(f"With {name}: compression {c:.0f} N ({v['change_pct']['peak_compression_n']:+.0f} %, {_zone(c)}{cross}); "
                   f"LiFFT damage {v['change_pct']['lifft_cumulative_damage']:+.0f} %, P(high-risk) "
                   f"{100 * v['lifft_p_high_risk']:.0f} %; the LI and REBA do not change (the RNLE and REBA have no exo term).")
    for mv in w["moves"]:
        for end in ("origin", "destination"):
            r = mv["reba"][end]
            if r["score"] >= 4:
                a = r["angles_deg"]
                why = [f"trunk flexed {a['trunk_flexion']:.0f} deg"]
                if a["trunk_twist"] >= 20.0:
                    why.append(f"twisted {a['trunk_twist']:.0f} deg")
                if r["upper_arm"] >= 3:
                    why.append(f"upper arm raised {a['upper_arm_flexion']:.0f} deg")
                if a["knee_flexion"] >= 30.0:
                    why.append(f"knees bent {a['knee_flexion']:.0f} deg")
                out.append(f"{mv['move']}, {end}: REBA {r['score']} ({r['risk']} risk, action {r['action']}): {', '.join(why)}.")
    out.extend(f"Note: {x}" for x in w["warnings"])
    return out


def to_markdown(report: dict) -> str:
    """compare.md: the table, the actions, the job as declared and the sources."""
    t = report["table"]
    lines = [f"# {report['task']}: robot versus worker", ""]
    lines.append("| | " + " | ".join(t["columns"]) + " |")
    lines.append("|---|" + "---:|" * len(t["columns"]))
    for r in t["rows"]:
        lines.append("| " + " | ".join(r) + " |")
    lines += ["", "## What to do", ""] + [f"- {a}" for a in report["actions"]]
    lines += ["", "## The manual job", ""]
    for m in report["job"]["moves"]:
        o, d = m["origin"], m["destination"]
        lines.append(f"- {m['name']}: {m['load_kg']:g} kg (mean {m['mean_load_kg']:g} kg), {m['count_per_cycle']} per cycle, "
                     f"coupling {m['coupling']}; origin H {100 * o['h_m']:.0f} cm, V {100 * o['v_m']:.0f} cm, "
                     f"A {o['asymmetry_deg']:.0f} deg; destination H {100 * d['h_m']:.0f} cm, V {100 * d['v_m']:.0f} cm, "
                     f"A {d['asymmetry_deg']:.0f} deg; D {100 * m['vertical_travel_m']:.0f} cm")
    lines += [f"- assumed: {a}" for a in report["job"]["assumptions"]]
    w = report["worker"]
    p = w["person"]
    lines += ["", f"Worker: {p['body_mass_kg']:g} kg, {p['stature_m']:g} m, {p['sex']}; {w['lift_style']} lifts "
              f"({w['moves'][0]['lift']}).", "", "## Sources", ""]
    lines += [f"- {k}: {v}" for k, v in report["sources"].items()]
    return "\n".join(lines) + "\n"
