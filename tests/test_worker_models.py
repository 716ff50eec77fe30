"""Worker-side models of `officina compare`: REBA, LiFFT / Exo-LiFFT, the composite lifting index,
the largest rate at LI <= 1, reach postures, motion-capture CSVs, the exo presets through the
compare path, and pick-place's manual job.

SOURCES, AND WHAT COULD NOT BE READ.
- REBA: Hignett & McAtamney (2000) Applied Ergonomics 31:201-205. No published worked example with
  its numbers (posture angles in, score out) could be read here: the stored reprint (Marras &
  Karwowski 2006, ch. 42) shows its examples (Figures 42.5-42.6) only as images. What is tested is
  every cell of Tables A, B and C as printed on the REBA employee assessment worksheet (rows read
  from the stored worksheet text, written out below again), each body-part boundary of Tables 1-2,
  and a posture scored by hand step by step.
- LiFFT: the authors' worked examples (the 2017 paper's 13 kg lift, the calculator's 30 lb lift)
  are tested in test_lifft_published_examples.py. Here: the equations, and the Exo-LiFFT
  abstract's figure (Zelik et al. 2022, Applied Ergonomics 99:103619): "an exo providing a 30 Nm
  lumbar moment is projected to reduce cumulative back damage by ~70%".
- Composite Lifting Index: no multi-task worked example of the Applications Manual could be read
  (the stored copies show only its opening pages; see test_niosh_manual_examples.py). The CLI is
  tested against the manual's procedure (section 2.4) worked by hand here on three tasks, every
  intermediate value (FIRWL, STRWL, FILI, STLI, the renumbering, each increment) checked.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from officina.exoskeleton import reba as R
from officina.exoskeleton.job import HandLocation, ManualJob, Move
from officina.exoskeleton.lifft import (
    LifftTask, cumulative_damage, damage_per_cycle, exo_peak_load_moment, high_risk_probability, peak_load_moment,
)
from officina.exoskeleton.lifts import parametric_lift
from officina.exoskeleton.model import human_model, joint_positions, static_l5s1_q
from officina.exoskeleton.niosh import NioshTask, composite_lifting_index
from officina.exoskeleton.worker import (
    Motion, Worker, evaluate_job, load_motion_csv, max_rate, niosh_tasks, posture_loads, reach_posture,
)

# --- REBA ----------------------------------------------------------------------------------------

# The worksheet's Table A, row by row: trunk, then neck 1 (legs 1-4), neck 2, neck 3
WORKSHEET_A = """
1 1 2 3 4 1 2 3 4 3 3 5 6
2 2 3 4 5 3 4 5 6 4 5 6 7
3 2 4 5 6 4 5 6 7 5 6 7 8
4 3 5 6 7 5 6 7 8 6 7 8 9
5 4 6 7 8 6 7 8 9 7 8 9 9
"""
# Table B: upper arm, then lower arm 1 (wrist 1-3), lower arm 2 (wrist 1-3)
WORKSHEET_B = """
1 1 2 2 1 2 3
2 1 2 3 2 3 4
3 3 4 5 4 5 5
4 4 5 5 5 6 7
5 6 7 8 7 8 8
6 7 8 8 8 9 9
"""
# Table C: score A, then score B 1-12
WORKSHEET_C = """
1 1 1 1 2 3 3 4 5 6 7 7 7
2 1 2 2 3 4 4 5 6 6 7 7 8
3 2 3 3 3 4 5 6 7 7 8 8 8
4 3 4 4 4 5 6 7 8 8 9 9 9
5 4 4 4 5 6 7 8 8 9 9 9 9
6 6 6 6 7 8 8 9 9 10 10 10 10
7 7 7 7 8 9 9 9 10 10 11 11 11
8 8 8 8 9 10 10 10 10 10 11 11 11
9 9 9 9 10 10 10 11 11 11 12 12 12
10 10 10 10 11 11 11 11 12 12 12 12 12
11 11 11 11 11 12 12 12 12 12 12 12 12
12 12 12 12 12 12 12 12 12 12 12 12 12
"""


def _rows(text):
    return [[int(x) for x in line.split()] for line in text.strip().splitlines()]


def test_reba_tables_every_cell_as_printed():
    for row in _rows(WORKSHEET_A):
        trunk, cells = row[0], row[1:]
        for neck in (1, 2, 3):
            for legs in (1, 2, 3, 4):
                assert R.table_a(trunk, neck, legs) == cells[4 * (neck - 1) + legs - 1], (trunk, neck, legs)
    for row in _rows(WORKSHEET_B):
        ua, cells = row[0], row[1:]
        for la in (1, 2):
            for wr in (1, 2, 3):
                assert R.table_b(ua, la, wr) == cells[3 * (la - 1) + wr - 1], (ua, la, wr)
    for row in _rows(WORKSHEET_C):
        a, cells = row[0], row[1:]
        for b in range(1, 13):
            assert R.table_c(a, b) == cells[b - 1], (a, b)


def test_reba_body_part_boundaries():
    assert [R.trunk_score(x) for x in (0, 4, 10, -15, 20, 21, 60, 61, -25)] == [1, 1, 2, 2, 2, 3, 3, 4, 3]
    assert R.trunk_score(30, twisted_or_side_bent=True) == 4
    assert [R.neck_score(x) for x in (0, 20, 21, -5)] == [1, 1, 2, 2]
    assert [R.legs_score(k) for k in (0, 29, 30, 60, 61)] == [1, 1, 2, 2, 3]
    assert R.legs_score(70, bilateral=False) == 4
    assert [R.upper_arm_score(x) for x in (-20, 20, 21, 45, 46, 90, 91, -21)] == [1, 1, 2, 2, 3, 3, 4, 2]
    assert R.upper_arm_score(100, abducted=True, shoulder_raised=True) == 6
    assert R.upper_arm_score(10, supported=True) == 1  # never below 1
    assert [R.lower_arm_score(e) for e in (59, 60, 100, 101)] == [2, 1, 1, 2]
    assert [R.wrist_score(w) for w in (0, 15, 16, -16)] == [1, 1, 2, 2]
    assert [R.load_score(m) for m in (0, 4.9, 5, 10, 10.1)] == [0, 0, 1, 1, 2]
    assert [R.action_level(s)[0] for s in (1, 2, 3, 4, 7, 8, 10, 11, 15)] == [
        "negligible", "low", "low", "medium", "medium", "high", "high", "very high", "very high"]


def test_reba_posture_scored_by_hand():
    # trunk 30 deg flexed and twisted (3 + 1 = 4), neck 25 deg (2), both legs, knees 40 deg (1 + 1 = 2)
    # -> Table A[neck 2][trunk 4][legs 2] = 6; load 8 kg +1 -> A = 7.
    # upper arm 50 deg (3), elbow 40 deg (2), wrist 20 deg (2) -> Table B[LA 2][UA 3][W 2] = 5; fair +1
    # -> B = 6; Table C[7][6] = 9; repeated > 4/min +1 -> REBA 10, high risk.
    r = R.reba(R.RebaInput(trunk_flexion_deg=30, trunk_twisted=True, neck_flexion_deg=25, knee_flexion_deg=40,
                           upper_arm_flexion_deg=50, elbow_flexion_deg=40, wrist_flexion_deg=20, load_kg=8,
                           coupling="fair", repeated_over_4_per_min=True))
    assert (r.trunk, r.neck, r.legs, r.posture_a, r.score_a) == (4, 2, 2, 6, 7)
    assert (r.upper_arm, r.lower_arm, r.wrist, r.posture_b, r.score_b) == (3, 2, 2, 5, 6)
    assert (r.score_c, r.activity, r.score, r.risk) == (9, 1, 10, "high")


def test_reba_bad_input_one_line():
    with pytest.raises(ValueError, match="coupling"):
        R.reba(R.RebaInput(trunk_flexion_deg=0, coupling="sticky"))
    with pytest.raises(ValueError, match="trunk flexion"):
        R.trunk_score(float("nan"))


# --- LiFFT ---------------------------------------------------------------------------------------

def test_exo_lifft_published_example_30nm_cuts_damage_by_about_70_percent():
    # Zelik et al. (2022), abstract: a 30 N m lumbar exo moment -> ~70 % less cumulative back damage,
    # whatever the load moment (the damage is exponential in the moment).
    for plm in (40.0, 60.0, 90.0):
        plm_exo, valid = exo_peak_load_moment(plm, 30.0)
        assert valid and plm_exo == pytest.approx(plm - 30.0)
        base = cumulative_damage([LifftTask("lift", plm, 1000)])["cumulative_damage"]
        exo = cumulative_damage([LifftTask("lift", plm_exo, 1000)])["cumulative_damage"]
        assert 1.0 - exo / base == pytest.approx(1.0 - math.exp(-0.038 * 30.0))
        assert 0.65 <= 1.0 - exo / base <= 0.75  # "~70 %"


def test_lifft_equations():
    assert peak_load_moment(10.0, 0.5) == pytest.approx(49.05)
    assert damage_per_cycle(0.0) == pytest.approx(math.exp(0.32) / 902_416)
    assert damage_per_cycle(50.0) == pytest.approx(math.exp(0.038 * 50 + 0.32) / 902_416)
    res = cumulative_damage([LifftTask("a", 50.0, 500), LifftTask("b", 20.0, 2000)])
    assert res["cumulative_damage"] == pytest.approx(500 * damage_per_cycle(50) + 2000 * damage_per_cycle(20))
    assert sum(t["share_pct"] for t in res["tasks"]) == pytest.approx(100.0)
    cd = res["cumulative_damage"]
    y = 1.72 + 1.03 * math.log10(cd)
    assert res["p_high_risk"] == pytest.approx(math.exp(y) / (1 + math.exp(y)))
    assert high_risk_probability(0.0) == 0.0
    assert high_risk_probability(1.0) == pytest.approx(1 / (1 + math.exp(-1.72)))
    assert exo_peak_load_moment(10.0, 12.0) == (0.0, False)
    with pytest.raises(ValueError):
        peak_load_moment(-1, 0.3)


# --- composite lifting index and the largest rate --------------------------------------------------

FM_LONG_LOW_V = {0.2: 0.85, 1: 0.75, 2: 0.65, 3: 0.55, 4: 0.45, 5: 0.35}  # Table 5, 2-8 h, V < 75 cm


def test_composite_lifting_index_by_the_manual_procedure():
    # three tasks, metric, long duration, V < 75 cm at every origin, no destination control
    tasks = [
        NioshTask(load=12, h=40, v=30, d=50, freq=1, duration="long", coupling="good"),
        NioshTask(load=8, h=30, v=60, d=30, freq=2, duration="long", coupling="fair"),
        NioshTask(load=15, h=25, v=10, d=70, freq=1, duration="long", coupling="good"),
    ]
    # by hand: FIRWL = 23 HM VM DM AM CM (FM = 1)
    firwl = [
        23 * (25 / 40) * (1 - 0.003 * 45) * (0.82 + 4.5 / 50) * 1.0 * 1.0,
        23 * (25 / 30) * (1 - 0.003 * 15) * (0.82 + 4.5 / 30) * 1.0 * 0.95,
        23 * 1.0 * (1 - 0.003 * 65) * (0.82 + 4.5 / 70) * 1.0 * 1.0,
    ]
    fm = [FM_LONG_LOW_V[1], FM_LONG_LOW_V[2], FM_LONG_LOW_V[1]]
    strwl = [f * m for f, m in zip(firwl, fm)]
    fili = [t.load / f for t, f in zip(tasks, firwl)]
    stli = [t.load / s for t, s in zip(tasks, strwl)]
    order = sorted(range(3), key=lambda i: stli[i], reverse=True)
    assert order == [0, 2, 1]  # renumbered by decreasing STLI
    # CLI = STLI_1 + FILI_2 (1/FM(F1+F2) - 1/FM(F1)) + FILI_3 (1/FM(F1+F2+F3) - 1/FM(F1+F2))
    f1, f2, f3 = (tasks[i].freq for i in order)
    cli = (stli[order[0]]
           + fili[order[1]] * (1 / FM_LONG_LOW_V[f1 + f2] - 1 / FM_LONG_LOW_V[f1])
           + fili[order[2]] * (1 / FM_LONG_LOW_V[f1 + f2 + f3] - 1 / FM_LONG_LOW_V[f1 + f2]))
    c = composite_lifting_index(tasks)
    for k, i in enumerate(order):
        row = c["tasks"][k]
        assert row["firwl"] == pytest.approx(firwl[i])
        assert row["strwl"] == pytest.approx(strwl[i])
        assert row["fili"] == pytest.approx(fili[i])
        assert row["stli"] == pytest.approx(stli[i])
    assert c["cli"] == pytest.approx(cli)
    assert c["cli"] > max(stli)  # the job is worse than its worst task


def test_firwl_and_fili_do_not_depend_on_the_tasks_own_frequency():
    """FIRWL is the RWL with FM = 1 (Applications Manual, section 2.4.1) and FILI = L / FIRWL
    (2.4.3): a task lifted faster than Table 5 goes (FM = 0, so STRWL = 0 and STLI infinite) still
    has them, from its geometry. 16 lifts/min is beyond every column of Table 5."""
    fast = NioshTask(load=10, h=40, v=30, d=50, freq=16, duration="short", coupling="fair")
    firwl = 23 * (25 / 40) * (1 - 0.003 * 45) * (0.82 + 4.5 / 50) * 1.0 * 0.95
    row = composite_lifting_index([fast])["tasks"][0]
    assert row["fm"] == 0.0 and row["strwl"] == 0.0 and math.isinf(row["stli"])
    assert row["firwl"] == pytest.approx(firwl)
    assert row["fili"] == pytest.approx(10 / firwl)
    slow = NioshTask(load=10, h=40, v=30, d=50, freq=1, duration="short", coupling="fair")
    assert composite_lifting_index([slow])["tasks"][0]["firwl"] == pytest.approx(firwl)


def _job(load=8.0, h=0.3, v=0.5, v_dest=0.9, a=0.0, n=2, coupling="good", moves=None):
    if moves is None:
        moves = (Move("box", load, HandLocation(h, v, a), HandLocation(h, v_dest, a), n, coupling,
                      control_at_destination=False),)
    return ManualJob("test", moves)


def test_niosh_tasks_convert_units_and_share_the_rate():
    job = _job(moves=(Move("a", 5, HandLocation(0.3, 0.5), HandLocation(0.3, 0.9), 1),
                      Move("b", 9, HandLocation(0.4, 0.2, 30), HandLocation(0.35, 0.8, 0), 3, "fair")))
    t = niosh_tasks(job, 8.0, 8.0)
    assert [x.freq for x in t] == pytest.approx([2.0, 6.0])
    assert (t[1].h, t[1].v, t[1].a, t[1].h_dest, t[1].v_dest, t[1].d) == pytest.approx((40, 20, 30, 35, 80, 60))
    assert t[0].duration == "long" and niosh_tasks(job, 8.0, 1.0)[0].duration == "short"


def test_max_rate_is_where_the_cli_reaches_one():
    job = _job(load=9.0)
    res = max_rate(job, 8.0)
    assert res["limited_by"] == "lifting index"
    r = res["max_rate_per_min"]
    cli = lambda x: composite_lifting_index(niosh_tasks(job, x, 8.0))["cli"]  # noqa: E731
    assert cli(r) <= 1.0 < cli(r * 1.01)
    light = max_rate(_job(load=0.5), 8.0)
    # Table 5, 2-8 h, V < 75 cm: the column ends at 8 lifts/min (FM 0.18; 0 from 9 on)
    assert light["limited_by"] == "frequency table" and light["max_rate_per_min"] == pytest.approx(8.0, abs=1e-6)
    heavy = max_rate(_job(load=30.0, h=0.5), 8.0)
    assert heavy == {"max_rate_per_min": 0.0, "limited_by": "load"}


# --- postures, loads, motions ------------------------------------------------------------------

@pytest.fixture(scope="module")
def person():
    return human_model(75, 1.75, "male")


@pytest.mark.parametrize("style", ["stoop", "squat"])
@pytest.mark.parametrize("hv", [(0.3, 0.2), (0.54, 0.93), (0.25, 1.2), (0.45, 0.6)])
def test_reach_posture_puts_the_grip_on_the_target(person, style, hv):
    q = reach_posture(person, style, *hv)
    assert joint_positions(person, q)["grip"] == pytest.approx(np.array(hv), abs=1e-6)
    assert q[5] >= -1e-9  # elbow flexed forward, never hyperextended


def test_reach_posture_bends_only_as_deep_as_needed(person):
    near = reach_posture(person, "stoop", 0.25, 1.0)
    far = reach_posture(person, "stoop", 0.55, 0.9)
    assert near[2] + near[3] == pytest.approx(0.0)  # the arms reach from upright
    assert far[2] + far[3] > 0.1  # the trunk flexes to reach further
    with pytest.raises(ValueError, match="out of this worker's reach"):
        reach_posture(person, "stoop", 1.5, 0.9)


def test_posture_loads_is_the_static_model_at_rest(person):
    q = reach_posture(person, "stoop", 0.45, 0.5)
    pl = posture_loads(person, q, 10.0)
    st = static_l5s1_q(person, q, 10.0)
    assert pl.moment == pytest.approx(float(st.moment), rel=1e-6)
    assert pl.compression == pytest.approx(float(st.compression), rel=1e-6)
    assert pl.moment_no_exo == pl.moment and pl.exo_torque == 0.0


def _write_csv(path, lift, extra=None, drop=None):
    cols = ["t_s"] + [f"{j}_deg" for j in ("ankle", "knee", "hip", "l5s1", "shoulder", "elbow") if j != drop]
    keep = [i for i, j in enumerate(("ankle", "knee", "hip", "l5s1", "shoulder", "elbow")) if j != drop]
    lines = [",".join(cols + list(extra or {}))]
    for k, t in enumerate(lift.t):
        vals = [f"{t:.4f}"] + [f"{np.degrees(lift.q[k, i]):.6f}" for i in keep]
        vals += [f"{v[k]:.3f}" for v in (extra or {}).values()]
        lines.append(",".join(vals))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_motion_csv_replaces_the_modelled_lift(person, tmp_path):
    job = _job(load=10.0, h=0.35, v=0.25, v_dest=0.8, n=1)
    modelled = evaluate_job(job, Worker(), 2.0, 8.0, ("spexor",))
    from officina.exoskeleton.worker import move_lift

    m = job.moves[0]
    lift = move_lift(reach_posture(person, "stoop", m.origin.h_m, m.origin.v_m),
                     reach_posture(person, "stoop", m.destination.h_m, m.destination.v_m), 10.0, "box")
    path = _write_csv(tmp_path / "lift.csv", lift, {"neck_flexion_deg": np.full(len(lift.t), 30.0)})
    mot = load_motion_csv(path, 10.0)
    measured = evaluate_job(job, Worker(), 2.0, 8.0, ("spexor",), {"box": mot})
    a, b = modelled["variants"], measured["variants"]
    for name in ("none", "spexor"):
        assert b[name]["peak_compression_n"] == pytest.approx(a[name]["peak_compression_n"], rel=0.02)
    assert measured["moves"][0]["lift"].startswith("motion capture")
    assert measured["moves"][0]["reba"]["origin"]["angles_deg"]["neck_flexion"] == pytest.approx(30.0)
    assert measured["moves"][0]["reba"]["origin"]["neck"] == 2


@pytest.mark.parametrize("content,match", [
    ("", "empty file"),
    ("t_s,ankle_deg,knee_deg,hip_deg,l5s1_deg,shoulder_deg\n0,0,0,0,0,0\n", "missing joint columns elbow_deg"),
    ("t_s,ankle_deg,knee_deg,hip_deg,l5s1_deg,shoulder_deg,elbow_deg\n0,0,0,0,0,0,0\n0.1,0,0\n", "line 3 has 3 values"),
    ("t_s,ankle_deg,knee_deg,hip_deg,l5s1_deg,shoulder_deg,elbow_deg\n0,0,0,0,0,0,0\n0.1,0,x,0,0,0,0\n0.2,0,0,0,0,0,0\n",
     "line 3, column knee_deg: 'x' is not a number"),
    ("t_s,ankle_deg,knee_deg,hip_deg,l5s1_deg,shoulder_deg,elbow_deg,neck_flexion_deg\n0,0,0,0,0,0,0,0\n"
     "0.1,0,0,0,0,0,0,nan\n0.2,0,0,0,0,0,0,0\n", "line 3, column neck_flexion_deg: 'nan' is not a finite number"),
    ("t_s,ankle_deg,knee_deg,hip_deg,l5s1_deg,shoulder_deg,elbow_deg\n0,0,0,0,0,0,0\n0,0,0,0,0,0,0\n0.2,0,0,0,0,0,0\n",
     "time must increase"),
])
def test_bad_motion_csv_is_one_line(tmp_path, content, match):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(ValueError, match=match) as exc:
        load_motion_csv(p, 5.0)
    assert "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="not found"):
        load_motion_csv(tmp_path / "nope.csv", 5.0)


def test_binary_motion_csv_is_one_line(tmp_path):
    p = tmp_path / "photo.csv"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(ValueError, match="photo.csv: not a text file") as exc:
        load_motion_csv(p, 5.0)
    assert "\n" not in str(exc.value)


# --- exo presets through the compare path ---------------------------------------------------------

def test_exo_presets_stay_in_their_published_ranges_through_evaluate_job(person):
    from officina.exoskeleton.exo import PRESETS

    key = {"peak_compression": "peak_compression_n", "peak_l5s1_moment": "peak_l5s1_moment_nm"}
    checked = 0
    for name, exo in PRESETS.items():
        for ref in getattr(exo, "references", ()):
            if ref.metric not in key:
                continue  # integrated moment: not a figure of the comparison
            lift = parametric_lift(person, ref.style, ref.load_kg, start_height_m=ref.start_height_m)
            job = _job(load=ref.load_kg, n=1)
            res = evaluate_job(job, Worker(lift_style=ref.style), 1.0, 8.0, (name,), {"box": Motion(lift, {}, "reference")})
            red = -res["variants"][name]["change_pct"][key[ref.metric]]
            lo, hi = ref.range_pct
            assert lo <= red <= hi, (name, ref, red)
            checked += 1
    assert checked >= 4


def test_evaluate_job_reports_what_an_exo_does_not_change():
    res = evaluate_job(_job(load=12.0, v=0.3), Worker(), 3.0, 8.0, ("laevo",))
    v = res["variants"]["laevo"]
    assert v["change"]["cli"] == 0 and v["change"]["reba_max"] == 0
    assert "no term" in v["unchanged"]["cli"] and "posture" in v["unchanged"]["reba_max"]
    assert v["peak_compression_n"] < res["variants"]["none"]["peak_compression_n"]
    assert v["lifft_cumulative_damage"] < res["variants"]["none"]["lifft_cumulative_damage"]
    with pytest.raises(ValueError, match="shoulder exoskeleton"):
        evaluate_job(_job(), Worker(), 3.0, 8.0, ("paexo",))


def test_a_shift_over_8_h_is_outside_the_rnle_and_says_so():
    """The RNLE does not apply to lifting for over 8 h (Waters, ch. 46 of Marras & Karwowski (eds.),
    Fundamentals and Assessment Tools for Occupational Ergonomics, 2006, section 46.3 Limitations of
    Equation: "does not apply if ... lifting/lowering for over 8 h"). A 10 h shift keeps the long
    duration class's figures but is no longer reported as if the equation applied."""
    job = _job(load=5.0, v=0.75)
    long_shift = evaluate_job(job, Worker(), 1.0, 10.0)
    assert any("over 8 h" in w for w in long_shift["warnings"])
    assert long_shift["niosh"]["duration"] == "long"
    assert not any("over 8 h" in w for w in evaluate_job(job, Worker(), 1.0, 8.0)["warnings"])


# --- pick-place declares its manual job ------------------------------------------------------------

def test_pick_place_manual_job_follows_its_parameters():
    from officina.tasks import get_task

    t = get_task("pick-place")
    p = t.Params()
    job = t.manual_job(p)
    (m,) = job.moves
    assert m.count_per_cycle == p.n_objects and m.load_kg == p.objects.mass_kg[1]
    assert m.origin.h_m == pytest.approx(math.hypot(np.mean(p.region_x), np.mean(p.region_y)))
    assert m.destination.h_m == pytest.approx(math.hypot(*p.bin_center_xy))
    assert m.origin.v_m == pytest.approx(t.WORK_SURFACE_HEIGHT_M + p.objects.height_m[1] / 2)
    assert m.origin.asymmetry_deg == pytest.approx(m.destination.asymmetry_deg) and m.origin.asymmetry_deg > 0
    job4 = t.manual_job(t.Params(n_objects=4, objects={"mass_kg": (1.0, 2.0)}))
    assert job4.moves[0].count_per_cycle == 4 and job4.moves[0].load_kg == 2.0
    assert job.assumptions
