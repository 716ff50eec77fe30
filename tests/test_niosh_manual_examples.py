"""The RNLE against published worked examples of the NIOSH Applications Manual (US units).

SOURCE, AND WHAT IT IS NOT. The target is chapter 3 of Waters, Putz-Anderson, Garg, *Applications
Manual for the Revised NIOSH Lifting Equation*, DHHS (NIOSH) Pub. No. 94-110 (1994, rev. 9/2021).
The stored copies of the manual itself that the search tool returns (scribd.com/document/550485896,
2021 edition; id.scribd.com/document/404057490, CDC WONDER archive of the 1994 edition;
fdocuments.in ".../applications-manual-burgess-2001-3-13-...", 1994 edition; a PDF in
github.com/Cocozza-simone/ai-niosh-lab, stored without text) only show their opening pages, so the
manual's chapter 3 was not read directly. Two examples are tested, from the secondary sources named
at each.

NOT TESTED: the manual's multi-task examples. Their list (from the 2021 edition's contents, as
transcribed in github.com/nbarr1/ErgonomicTool, docs/methods/rnle.md): the three-task CLI
illustration of section 2.4.5 (p. 28), Example 7 "Depalletizing Operation" (pp. 55-59, Figure 22),
Example 8 "Handling Cans of Liquid" (pp. 59-64, Figure 24), Example 9 "Product Packaging II"
(pp. 64-68, Figure 26), Example 10 "Warehouse Order Filling" (pp. 68-72, Figure 28). None of their
task data or FIRWL/STRWL/FILI/STLI/CLI values could be read in any stored copy or reprint, so the
composite lifting index has no published-figure test (tests/test_worker_models.py and
tests/test_niosh.py work the manual's procedure by hand). Two rules of the procedure were read (as
quoted from the manual in the same transcription) and are implemented and tested in test_niosh.py:
FM for F = 2.4 is interpolated between the 2 and 3 lifts/min rows (Example 7, pp. 56-57), and
"If more than one task has the same STLI value, assign the lower task number to the task with the
highest frequency" (p. 57).

Example 5, "Dish-Washing Machine Unloading" (manual
pp. 47-50, Figures 16-17), as reprinted by the manual's first author in T.R. Waters, "Revised NIOSH
Lifting Equation", ch. 46 of Marras & Karwowski (eds.), *Fundamentals and Assessment Tools for
Occupational Ergonomics* (CRC, 2006), section 46.7.2 "Dish-Washing Machine Unloading, Example 2",
read at http://what-when-how.com/Tutorial/topic-53604/Fundamentals-and-Assessment-Tools-for-Occupational-Ergonomics-912.html
That text predates the 2021 revision of the manual (which states that it corrects typographical
errors and leaves formulas and multipliers unchanged); whether the 2021 edition prints different
numbers for this example could not be checked.

Numbers read there (nothing else is used):
  trays "assume that all of the trays weigh 20 lb"; 45 min to 1 h of work -> short duration;
  5 lifts/min; coupling "good"; significant control at the destination;
  origin H = 20 in, V = 44 in, A = 30 deg; destination H = 20 in, V = 7 in, A = 30 deg;
  "the FM is determined to be 0.80"; "the RWL is 14.4 lb at the origin and 13.3 lb at the destination".
D is not printed in the excerpt; it is |V2 - V1| = 37 in by the manual's definition (our default).
The excerpt stops before the LI values, so LI is not compared with a printed number.

DISAGREEMENT AND ITS RESOLUTION. At full precision our origin RWL is 14.34 lb, which prints as 14.3,
not the book's 14.4. This is the worksheet convention, not a bug: the worked examples multiply
multipliers already rounded to two decimals (here HM .50, VM .90 from .895, DM .87 from .8686,
AM .90 from .904, FM .80, CM 1.00 -> 51 x .50 x .90 x .87 x .90 x .80 x 1.00 = 14.38 -> 14.4).
The manual states this rule (p. 29): "for these examples, multipliers are rounded to two places to
the right of the decimal and weight limit (RWL, FIRWL, and STRWL) and lifting index values (LI,
FILI, STLI, and CLI) are rounded to one place to the right of the decimal" (as quoted in the
nbarr1/ErgonomicTool transcription). So each test checks (a) the rounded-multiplier product
against the printed RWL exactly at 0.1 lb, and (b) our full-precision RWL within 0.1 lb of it.

Example 4, "Package Inspection" (manual p. 44-46, worksheet Figure 14 p. 46). Read as quoted from
the 2021 manual in github.com/nbarr1/ErgonomicTool, docs/methods/rnle.md ("Rounding") and
docs/open-questions.md (OQ-115, OQ-116): "the origin RWL is 51 x 1.0 x .94 x .87 x 1.0 x .88 x .95
= 34.9 lb"; "The destination RWL is 15.2 lb in the worksheet"; "CM is .95 at the origin (V = 22 in,
fair) and 1.0 at the destination (V = 59 in, fair)"; "Example 4 uses 26 lb". H, F and duration
were read in the example's task data as restated by a third party (github.com/Cocozza-simone/
ai-niosh-lab, job_analysis.py, its "repetitive single-task" example: W 26 lb, H 10 in at the origin
and 20 in at the destination, V 22 and 59 in, A 0, F 3 lifts/min, < 1 h, fair, significant control
at the destination); the printed multipliers agree with them (HM 1.0 at H = 10 in; FM .88 for
3/min, <= 1 h; VM .94 at 22 in; DM .87 for D = 37 in), and the printed destination RWL of 15.2 lb
needs HM .50, i.e. H = 20 in. The LI is not in the quoted text, so it is not compared.
"""

from __future__ import annotations

import json
import math

import pytest
from officina.exoskeleton.niosh import NioshTask, evaluate
from typer.testing import CliRunner


def r2(x: float) -> float:
    """Round half up to 2 decimals, as the manual prints multipliers (.895 -> .90)."""
    return math.floor(x * 100 + 0.5 + 1e-9) / 100


def r1(x: float) -> float:
    """Round half up to 1 decimal, as the manual prints RWL and LI."""
    return math.floor(x * 10 + 0.5 + 1e-9) / 10


# Example 5, Dish-Washing Machine Unloading (see the module docstring for the source)
DISHWASHER = dict(load=20, h=20, v=44, h_dest=20, v_dest=7, a=30, a_dest=30, freq=5, duration="short",
                  coupling="good", units="us")
PRINTED_FM = 0.80
PRINTED_RWL_ORIGIN = 14.4
PRINTED_RWL_DEST = 13.3


def _worksheet_rwl(point) -> float:
    """RWL the way the manual's worksheets compute it: product of multipliers rounded to 2 decimals."""
    m = point.multipliers
    prod = m["LC"]
    for k in ("HM", "VM", "DM", "AM", "FM", "CM"):
        prod *= r2(m[k])
    return prod


def test_dishwasher_multipliers_and_rwl():
    r = evaluate(NioshTask(**DISHWASHER))
    assert r.warnings == ()
    for p in (r.origin, r.destination):
        assert p.multipliers["FM"] == pytest.approx(PRINTED_FM)  # printed FM .80 (Table 5: <=1 h, 5/min)
        assert p.multipliers["DM"] == pytest.approx(0.82 + 1.8 / 37)  # D = 44 - 7 = 37 in
        assert p.multipliers["CM"] == 1.0  # good coupling
    # (a) the worksheet procedure reproduces the printed RWLs exactly at the printed precision
    assert r1(_worksheet_rwl(r.origin)) == pytest.approx(PRINTED_RWL_ORIGIN)
    assert r1(_worksheet_rwl(r.destination)) == pytest.approx(PRINTED_RWL_DEST)
    # (b) full precision: destination prints the same; origin 14.34 vs printed 14.4 is the
    # multiplier-rounding difference explained in the module docstring (within 0.1 lb)
    assert r1(r.destination.rwl) == pytest.approx(PRINTED_RWL_DEST)
    assert r.origin.rwl == pytest.approx(PRINTED_RWL_ORIGIN, abs=0.1)
    assert r.destination.rwl == pytest.approx(PRINTED_RWL_DEST, abs=0.1)
    # the destination is the worse end (lower RWL), so it sets the task LI; LI = L / RWL
    assert r.task_li == pytest.approx(20 / r.destination.rwl)
    assert r.task_li == pytest.approx(20 / PRINTED_RWL_DEST, abs=0.02)


def test_dishwasher_through_cli():
    from officina.cli import app, register_subcommands

    register_subcommands()
    t = DISHWASHER
    args = ["ergo", "niosh", "--units", "us", "--load", str(t["load"]), "--h", str(t["h"]), "--v", str(t["v"]),
            "--h-dest", str(t["h_dest"]), "--v-dest", str(t["v_dest"]), "--a", str(t["a"]), "--a-dest", str(t["a_dest"]),
            "--freq", str(t["freq"]), "--duration", t["duration"], "--coupling", t["coupling"], "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["units"] == "us" and out["origin"]["multipliers"]["LC"] == 51.0
    assert out["origin"]["multipliers"]["FM"] == pytest.approx(PRINTED_FM)
    assert out["origin"]["rwl"] == pytest.approx(PRINTED_RWL_ORIGIN, abs=0.1)
    assert r1(out["destination"]["rwl"]) == pytest.approx(PRINTED_RWL_DEST)
    assert out["task_li"] == pytest.approx(out["destination"]["li"])
    assert out["warnings"] == []


# Example 4, Package Inspection (see the module docstring for the sources)
PACKAGE_INSPECTION = dict(load=26, h=10, v=22, h_dest=20, v_dest=59, a=0, a_dest=0, freq=3, duration="short",
                          coupling="fair", units="us")
PRINTED_ORIGIN_MULTIPLIERS = {"HM": 1.0, "VM": 0.94, "DM": 0.87, "AM": 1.0, "FM": 0.88, "CM": 0.95}
PRINTED_RWL_ORIGIN_4 = 34.9
PRINTED_RWL_DEST_4 = 15.2


def test_package_inspection_multipliers_and_rwl():
    r = evaluate(NioshTask(**PACKAGE_INSPECTION))
    assert r.warnings == ()
    m = r.origin.multipliers
    assert m["LC"] == 51.0
    for k, printed in PRINTED_ORIGIN_MULTIPLIERS.items():
        assert r2(m[k]) == pytest.approx(printed), k
    assert r.destination.multipliers["CM"] == 1.0  # fair coupling, V = 59 in >= 30 in
    assert r.destination.multipliers["FM"] == pytest.approx(0.88)  # FM from the origin's V class
    # (a) the worksheet procedure reproduces the printed RWLs at 0.1 lb
    assert r1(_worksheet_rwl(r.origin)) == pytest.approx(PRINTED_RWL_ORIGIN_4)
    assert r1(_worksheet_rwl(r.destination)) == pytest.approx(PRINTED_RWL_DEST_4)
    # (b) full precision (34.81 and 15.25 lb) within 0.1 lb of the printed values
    assert r.origin.rwl == pytest.approx(PRINTED_RWL_ORIGIN_4, abs=0.1)
    assert r.destination.rwl == pytest.approx(PRINTED_RWL_DEST_4, abs=0.1)
    # the destination sets the task's LI
    assert r.task_li == pytest.approx(26 / r.destination.rwl)
