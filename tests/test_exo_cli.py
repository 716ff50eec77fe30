"""`officina exo lift|static|overhead`, in-process: JSON contract, plots, exit codes."""

from __future__ import annotations

import json
import math

import pytest
from officina.exoskeleton.model import human_model, static_l5s1
from typer.testing import CliRunner

SUMMARY_KEYS = {"peak_l5s1_moment_nm", "mean_l5s1_moment_nm", "peak_compression_n", "mean_compression_n"}


@pytest.fixture(scope="module")
def run():
    from officina.cli import app, register_subcommands

    register_subcommands()
    runner = CliRunner()
    return lambda args: runner.invoke(app, args)


LIFT = ["exo", "lift", "--lift", "stoop", "--load-kg", "10", "--body-mass-kg", "75", "--stature-m", "1.75"]


def test_exo_lift_json_contract_and_plots(run, tmp_path):
    res = run(LIFT + ["--exo", "laevo", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"without", "with", "reduction_pct"} <= set(out)
    assert set(out["without"]) == SUMMARY_KEYS and set(out["with"]) == SUMMARY_KEYS
    assert set(out["reduction_pct"]) == {"peak_l5s1_moment", "peak_compression"}
    assert 5.0 <= out["reduction_pct"]["peak_compression"] <= 10.0
    assert out["with"]["peak_compression_n"] < out["without"]["peak_compression_n"]
    for name in ("loads.png", "stick.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_exo_lift_none_and_text(run):
    res = run(LIFT + ["--exo", "none", "--json"])
    out = json.loads(res.stdout)
    assert out["with"] == out["without"] and out["reduction_pct"]["peak_compression"] == 0.0
    res = run(LIFT + ["--exo", "active", "--sex", "female", "--end-height", "0.9"])
    assert res.exit_code == 0, res.output
    assert "peak compression" in res.stdout and "exo: peak torque" in res.stdout


@pytest.mark.parametrize("args", [
    ["--exo", "ironman"], ["--exo", "paexo"], ["--lift", "deadlift"], ["--sex", "x"],
    ["--body-mass-kg", "-5"], ["--load-kg", "-1"], ["--end-height", "table"], ["--stature-m", "7"],
    ["--start-height-m", "nan"], ["--end-height", "nan"], ["--end-height", "inf"],
])
def test_exo_lift_bad_input_exit_2(run, args):
    """Malformed input exits 2 with one line (docs/exoskeleton.md); a grip height of NaN is no
    height (it used to run a lift from an arbitrary posture and exit 0)."""
    base = dict(zip(LIFT[2::2], LIFT[3::2]))
    base.update(dict(zip(args[::2], args[1::2])))
    res = run(["exo", "lift"] + [x for kv in base.items() for x in kv])
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") <= 2 and "error" in res.output


def test_exo_lift_missing_csv_exit_2(run, tmp_path):
    res = run(LIFT + ["--motion-csv", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2


def test_exo_static_json_matches_library(run):
    res = run(["exo", "static", "--trunk-flexion-deg", "60", "--load-kg", "10", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"l5s1_moment_nm", "compression_n", "shear_n"}
    ref = static_l5s1(human_model(75, 1.75, "male"), math.radians(60), 10.0)
    assert out["l5s1_moment_nm"] == pytest.approx(float(ref.moment))
    assert out["compression_n"] == pytest.approx(float(ref.compression))
    res = run(["exo", "static", "--trunk-flexion-deg", "30", "--load-kg", "5", "--body-mass-kg", "60", "--stature-m", "1.6", "--sex", "female"])
    assert res.exit_code == 0 and "compression" in res.stdout


@pytest.mark.parametrize("args", [["--trunk-flexion-deg", "500"], ["--trunk-flexion-deg", "abc"], ["--trunk-flexion-deg", "30", "--load-kg", "-3"]])
def test_exo_static_bad_input(run, args):
    assert run(["exo", "static"] + args).exit_code == 2


def test_exo_overhead(run):
    res = run(["exo", "overhead", "--elevation-deg", "90", "--support", "0.6", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["reduction_pct"] == pytest.approx(60.0)
    assert run(["exo", "overhead", "--exo", "laevo"]).exit_code == 2


def test_help_teaches_units(run):
    res = run(["exo", "lift", "--help"])
    assert res.exit_code == 0 and "kg" in res.stdout and "Example" in res.stdout
    res = run(["ergo", "niosh", "--help"])
    assert res.exit_code == 0 and "cm" in res.stdout and "lb" in res.stdout


HEADER = "t_s,ankle_deg,knee_deg,hip_deg,l5s1_deg,shoulder_deg,elbow_deg\n"


@pytest.mark.parametrize("content, message", [
    (HEADER + "0,0,0,0,0,0,0\n0.5,5,30,40,20,10,5\n1.0,0,0,0,0,0\n", "line 4 has 6 values, the header has 7"),
    (HEADER + "0,0,0,0,0,0,0\n0.5,5,30,40,20,10,5\n1.0,x,0,0,0,0,0\n", "line 4, column ankle_deg: 'x' is not a number"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "not a text file"),
    (HEADER + "0,0,0,0,0,0,0\n0.5,5,30,nan,20,10,5\n1.0,0,0,0,0,0,0\n", "line 3, column hip_deg: 'nan' is not a finite number"),
    (HEADER + "0,0,0,0,0,0,0\nnan,5,30,40,20,10,5\n1.0,0,0,0,0,0,0\n", "line 3, column t_s: 'nan' is not a finite number"),
    (HEADER + "0,0,0,0,0,0,0\n0.5,5,30,40,20,10,inf\n1.0,0,0,0,0,0,0\n", "line 3, column elbow_deg: 'inf' is not a finite number"),
], ids=["short-row", "non-numeric", "binary", "nan-angle", "nan-time", "inf-angle"])
def test_exo_lift_bad_motion_csv_names_the_line(run, tmp_path, content, message):
    """A bad motion file is one line and exit 2 (docs/exoskeleton.md). 'nan' and 'inf' parse as
    floats but are no measurement: they used to give NaN loads (and JSON with NaN) at exit 0."""
    p = tmp_path / "motion.csv"
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    res = run(LIFT + ["--motion-csv", str(p)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"officina: error: {p}: {message}")


def test_exo_overhead_over_support_is_said_not_hidden(run):
    """A support above what the arms weigh: no negative flexor moment next to '100 % less'; the
    moment the person holds against the device is said."""
    res = run(["exo", "overhead", "--elevation-deg", "110", "--tool-kg", "1.5", "--exo", "paexo", "--support", "1.7",
               "--json"])
    out = json.loads(res.stdout)
    assert out["opposing_moment_nm"] > 1.0
    res = run(["exo", "overhead", "--elevation-deg", "110", "--tool-kg", "1.5", "--exo", "paexo", "--support", "1.7"])
    assert res.exit_code == 0, res.output
    assert " -" not in res.stdout and "0 N m with paexo (100 % less" in res.stdout
    assert f"pushes the arms down against it with {out['opposing_moment_nm']:.1f} N m" in res.stdout
    res = run(["exo", "overhead", "--elevation-deg", "110", "--tool-kg", "1.5", "--exo", "paexo", "--support", "0.7"])
    assert "(48 % less); 13.9 N m go to the hip belt" in res.stdout and "over-supports" not in res.stdout


@pytest.mark.parametrize("args, message", [
    (["--stiffness", "2000"], "--stiffness (N m/rad): expected values from 0 to 1000, got 2000.0"),
    (["--preload", "-5"], "--preload (N m): expected values from 0 to 200, got -5.0"),
    (["--load-kg", "500"], "--load-kg (kg): expected values from 0 to 50, got 500.0"),
])
def test_exo_sweep_out_of_range_names_the_option(run, tmp_path, args, message):
    res = run(["exo", "sweep", *args, "--out", str(tmp_path / "study")])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [f"officina: error: {message}"]
    assert not (tmp_path / "study").exists()
