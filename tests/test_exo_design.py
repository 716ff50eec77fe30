"""`officina exo sweep`: a passive back exo's stiffness x preload over loads and lift styles; the
vectorised study against inverse dynamics with each device, and the command's table and files."""

import json

import numpy as np
import pytest

from officina.exoskeleton.design import StudyAxes, design_study
from officina.exoskeleton.dynamics import compare, inverse_dynamics
from officina.exoskeleton.exo import spring_exo
from officina.exoskeleton.lifts import parametric_lift
from officina.exoskeleton.model import human_model


@pytest.fixture(scope="module")
def person():
    return human_model(75.0, 1.75, "male")


def test_the_vectorised_study_equals_inverse_dynamics_with_each_device(person):
    ax = StudyAxes([0.0, 25.0, 80.0], [0.0, 8.0], [4.0, 12.0], ["stoop", "squat"], engage_deg=5.0, max_torque_nm=45.0)
    rows = design_study(person, ax)
    assert len(rows) == 3 * 2 * 2 * 2
    for r in rows[::5]:
        lift = parametric_lift(person, r["lift_style"], r["load_kg"])
        dev = spring_exo(r["stiffness_nm_per_rad"], r["preload_nm"], 5.0, 45.0)
        c = compare(inverse_dynamics(person, lift), inverse_dynamics(person, lift, dev))
        assert r["peak_compression_n"] == pytest.approx(c["with"]["peak_compression_n"], rel=1e-9)
        assert r["peak_l5s1_moment_nm"] == pytest.approx(c["with"]["peak_l5s1_moment_nm"], rel=1e-9)
        assert r["peak_compression_no_exo_n"] == pytest.approx(c["without"]["peak_compression_n"], rel=1e-9)
        assert r["peak_compression_reduction_pct"] == pytest.approx(c["reduction_pct"]["peak_compression"], abs=1e-7)
        assert r["peak_opposing_moment_nm"] == pytest.approx(c["exo"]["peak_opposing_moment_nm"], abs=1e-7)
        assert r["time_opposing_s"] == pytest.approx(c["exo"]["time_opposing_s"])
        assert r["peak_exo_torque_nm"] == pytest.approx(c["exo"]["peak_torque_nm"])


def test_what_the_design_axes_change(person):
    rows = design_study(person, StudyAxes([0.0, 20.0, 40.0, 60.0], [0.0, 10.0], [5.0, 15.0], ["stoop"]))
    sel = lambda **kw: [r for r in rows if all(r[k] == v for k, v in kw.items())]  # noqa: E731
    for load in (5.0, 15.0):
        free = sel(load_kg=load, preload_nm=0.0)
        comp = [r["peak_compression_n"] for r in free]
        assert free[0]["stiffness_nm_per_rad"] == 0.0 and comp[0] == pytest.approx(free[0]["peak_compression_no_exo_n"])
        assert all(b <= a + 1e-9 for a, b in zip(comp, comp[1:])) and comp[-1] < 0.85 * comp[0]
        # a preload pushes when standing: the person works against it; without one, less so
        for k in (0.0, 40.0):
            (a,), (b,) = sel(load_kg=load, preload_nm=0.0, stiffness_nm_per_rad=k), sel(
                load_kg=load, preload_nm=10.0, stiffness_nm_per_rad=k)
            assert b["peak_opposing_moment_nm"] > a["peak_opposing_moment_nm"] + 5.0
            assert b["lifft_damage"] <= a["lifft_damage"] <= a["lifft_damage_no_exo"]
    # NIOSH has no exo term: the lifting index is the lift's, proportional to the load
    li = {r["load_kg"]: r["niosh_li"] for r in rows}
    assert len({r["niosh_li"] for r in sel(load_kg=5.0)}) == 1 and li[15.0] == pytest.approx(3 * li[5.0])
    assert np.isclose(rows[0]["niosh_rwl_kg"] * li[5.0], 5.0)


def test_exo_sweep_command_writes_its_table_plot_and_json(cli, tmp_path):
    out = tmp_path / "study"
    r = cli(["exo", "sweep", "--stiffness", "0:40:20", "--preload", "0,10", "--load-kg", "10", "--lift-style",
             "stoop", "--out", out])
    assert r.exit_code == 0, r.output
    assert "6 design points" in r.stdout and "stoop 10 kg" in r.stdout
    from officina.results import read_table

    table = read_table(out / "results.csv")
    assert len(table) == 6 and {t["stiffness_nm_per_rad"] for t in table} == {"0.0", "20.0", "40.0"}
    assert (out / "exo_sweep.png").stat().st_size > 10_000
    doc = json.loads((out / "exo_sweep.json").read_text())
    assert doc["columns"]["peak_compression_n"]["unit"] == "N" and len(doc["rows"]) == 6
    pq = pytest.importorskip("pyarrow.parquet")
    assert pq.read_table(out / "results.parquet").num_rows == 6
    # bad input: one line, exit 2, no folder
    for args, msg in ((["--stiffness", "0:10:-1"], "--stiffness"), (["--lift-style", "crawl"], "lift style"),
                      (["--load-kg", "80"], "--load-kg")):
        r = cli(["exo", "sweep", *args, "--out", tmp_path / "bad"])
        assert r.exit_code == 2 and msg in r.stderr, r.output
        assert not (tmp_path / "bad").exists()
