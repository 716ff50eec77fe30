"""The CLI face: version, listings, and every bad-input case (exit 2, one line, no run folder)."""

import json
import sys

import pytest

from officina import __version__


def test_version(cli):
    r = cli(["--version"])
    assert r.exit_code == 0 and __version__ in r.stdout


def test_robots_and_tasks_listings(cli):
    r = cli(["robots", "--json"])
    assert r.exit_code == 0
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["panda"]["dof"] == 7 and rows["ur5e"]["dof"] == 6 and rows["iiwa"]["gripper"] == "parallel"
    assert rows["ur10e"]["gripper"] == rows["irb2600"]["gripper"] == "vacuum"
    assert "ABB" in rows["irb2600"]["model_source"] and "UR DH" in rows["ur10e"]["model_source"]
    r = cli(["tasks", "--json"])
    assert r.exit_code == 0
    assert "pick-place" in {row["name"] for row in json.loads(r.stdout)}
    r = cli(["tasks"])
    assert "pick-place" in r.stdout


def test_run_help_teaches(cli):
    r = cli(["run", "--help"])
    assert r.exit_code == 0
    for word in ("--robot", "--seed", "--set", "--config", "--video", "metrics.json", "Exit codes"):
        assert word in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no-such-task"], "unknown task 'no-such-task'; expected one of"),
        (["run", "pick-place", "--robot", "abb-irb"], "unknown robot 'abb-irb'; expected one of"),
        (["run", "pick-place", "--set", "params.bogus=1"], "config key 'params.bogus': unknown key"),
        (["run", "pick-place", "--set", "colour=red"], "config key 'colour': unknown key"),
        (["run", "pick-place", "--set", "params.n_objects=abc"], "config key 'params.n_objects'"),
        (["run", "pick-place", "--set", "params.n_objects=40"], "less than or equal to 6"),
        (["run", "pick-place", "--set", "sim.dt"], "expected KEY=VALUE"),
        (["run", "pick-place", "--set", "sim.control_dt=0.0015"], "whole multiple of sim_dt"),
        (["run", "pick-place", "--config", "does/not/exist.yaml"], "config file not found"),
        (["run", "pick-place", "--robot", "does/not/exist.yaml"], "robot file not found"),
        (["run", "pick-place", "--set", "params.region_x=[0.6,0.4]"],
         "config key 'params': region_x and region_y must be ranges (low, high)"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_folder(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = cli(args)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert not (tmp_path / "runs").exists()


def test_urdf_that_fails_to_load(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.urdf").write_text("<robot name='x'><link name='a'>")  # not well-formed
    (tmp_path / "arm.yaml").write_text(
        "name: broken\nurdf: broken.urdf\nbase_link: a\njoints: [j1]\n"
        "limits: {acceleration: [1], jerk: [1]}\nhome: [0]\nflange: a\ntcp: {parent: a}\n"
    )
    r = cli(["run", "pick-place", "--robot", "arm.yaml"])
    assert r.exit_code == 2
    assert "not valid XML" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_malformed_config_file(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("task: pick-place\nsim: [1, 2\n")
    r = cli(["run", "--config", "c.yaml"])
    assert r.exit_code == 2 and "not valid YAML" in r.stderr


def test_out_folder_not_empty(cli, tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    r = cli(["run", "pick-place", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "not empty" in r.stderr
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_real_subprocess_json_is_parseable_and_bad_input_exits_2(tmp_path):
    """As a user's shell sees it: stdout of --json is pure JSON (PyBullet's import banner goes to
    stderr), errors are one line on stderr with exit code 2."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "officina.cli"]
    r = subprocess.run(cmd + ["kin", "fk", "--robot", "panda", "--q", "0,0,0,-1.5,0,1.5,0", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)) == {"position", "quaternion_xyzw"}
    r = subprocess.run(cmd + ["run", "pick-place", "--robot", "nope"], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("officina: error: unknown robot 'nope'")
    assert not (tmp_path / "runs").exists()


def test_pick_place_refuses_a_vacuum_gripper(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli(["run", "pick-place", "--robot", "ur10e"])
    assert r.exit_code == 2 and "needs a parallel gripper" in r.stderr
    assert not (tmp_path / "runs").exists()


LIFT_ARGS = ["--lift", "squat", "--load-kg", "10", "--body-mass-kg", "75", "--stature-m", "1.75"]


@pytest.mark.parametrize("args", [
    ["run", "pick-place"],
    ["sweep", "pick-place", "--seeds", "0"],
    ["exo", "sweep", "--stiffness", "20", "--preload", "0", "--load-kg", "10", "--lift-style", "stoop"],
    ["exo", "lift", *LIFT_ARGS],
    ["compare", "pick-place"],
], ids=["run", "sweep", "exo-sweep", "exo-lift", "compare"])
def test_out_that_is_a_file_is_one_line_and_exit_2(cli, tmp_path, args):
    """--out naming a file (or a folder that cannot be made) is bad input, not a traceback."""
    f = tmp_path / "notes.txt"
    f.write_text("precious")
    r = cli([*args, "--out", f])
    assert r.exit_code == 2, r.output
    assert f"--out {f}: a file, not a folder" in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("officina:")]) == 1
    assert "Traceback" not in r.stderr and f.read_text() == "precious"
    r = cli([*args, "--out", f / "sub"])
    assert r.exit_code == 2, r.output
    assert f"--out {f / 'sub'}: cannot create the folder" in r.stderr and "Traceback" not in r.stderr


def test_config_file_of_another_task_says_so(cli, tmp_path, monkeypatch):
    """A run folder's config.yaml given with another TASK: the error says whose parameters they are."""
    import yaml

    from officina.runner import resolve_config

    monkeypatch.chdir(tmp_path)
    cfg = resolve_config("pick-place", overrides=["params.approach_height_m=0.1"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    for cmd in (["run"], ["sweep", "--seeds", "0"]):
        r = cli([cmd[0], "peg-in-hole", *cmd[1:], "--config", "config.yaml"])
        assert r.exit_code == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "config key 'params.approach_height_m'" in lines[0]
        assert "config file config.yaml holds the parameters of task 'pick-place', not 'peg-in-hole'" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
    r = cli(["run", "pick-place", "--config", "config.yaml", "--set", "params.n_objectz=1"])
    assert r.exit_code == 2 and "holds the parameters" not in r.stderr  # the same task: no such hint


def test_tasks_task_lists_every_parameter_that_set_takes(cli):
    """`officina tasks TASK` (what docs/tasks.md points to for a task's parameters): every key it
    lists is one --set takes, with its default; every parameter of the task is listed."""
    from officina.runner import resolve_config
    from officina.tasks import get_task, task_names

    for name in task_names():
        r = cli(["tasks", name, "--json"])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        keys = [row["key"] for row in doc["params"]]
        assert {k.split(".")[1] for k in keys} == set(get_task(name).Params.model_fields), name
        overrides = [f"{row['key']}={json.dumps(row['default'])}" for row in doc["params"]]
        cfg = resolve_config(name, robot="ur10e" if name == "palletizing" else None, overrides=overrides)
        assert cfg.params == resolve_config(name, robot="ur10e" if name == "palletizing" else None).params
    r = cli(["tasks", "pick-place"])
    assert r.exit_code == 0 and "params.n_objects" in r.stdout and ">= 1, <= 6" in r.stdout
    rows = {row["key"]: row for row in json.loads(cli(["tasks", "pick-place", "--json"]).stdout)["params"]}
    assert rows["params.objects.kinds"]["allowed"] == "length >= 1, each one of box, cylinder"
    assert rows["params.n_objects"] == {"key": "params.n_objects", "default": 3, "allowed": ">= 1, <= 6",
                                        "description": ""}
    r = cli(["tasks", "pick-placex"])
    assert r.exit_code == 2 and "unknown task 'pick-placex'" in r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY is how Linux names the X server")
def test_gui_without_a_display_is_one_line(cli, tmp_path, monkeypatch):
    """PyBullet's GUI without an X server prints its start-up chatter and exits the process with
    status 1; officina refuses first."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    for args in (["run", "pick-place", "--gui"], ["run", "pick-place", "--set", "gui=true"],
                 ["sweep", "pick-place", "--seeds", "0", "--set", "gui=true"]):
        r = cli([*args, "--out", tmp_path / "run"])
        assert r.exit_code == 2
        assert r.stderr.strip().splitlines() == [
            "officina: error: --gui needs a display, and DISPLAY is not set; expected a desktop session "
            "(or ssh -X), or run headless without --gui (--video records one)"]
        assert not (tmp_path / "run").exists()


def test_usage_errors_are_one_line_through_main(capsys, monkeypatch):
    """What the parser refuses (an unknown option or command, a value that does not convert, a
    missing option) is one line naming it and the command's --help, exit 2, as officina's own
    bad-input errors; help, --version and a group without a command keep their pages."""
    import gc

    from officina.cli import main

    monkeypatch.setattr(gc, "freeze", lambda: None)  # main's exit-time freeze: not in the test process

    def call(args):
        with pytest.raises(SystemExit) as exc:
            main(args)
        out, err = capsys.readouterr()
        return exc.value.code, out, err

    for args, message in (
        (["run", "pick-place", "--seed", "abc"], "Invalid value for '--seed' / '-s'"),
        (["run", "pick-place", "--bogus"], "No such option: --bogus"),
        (["nosuchcmd"], "No such command 'nosuchcmd'"),
        (["exo", "lift", "--lift", "squat"], "Missing option '--load-kg'"),
        (["kin", "ik", "--robot", "panda", "--position", "0.4,0,0.3", "--quaternion-xyzw", "1,0,0,0",
          "--max-restarts", "-1"], "Invalid value for '--max-restarts'"),
    ):
        code, out, err = call(args)
        assert code == 2, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("officina: error: ") and message in lines[0], lines
        assert "(see `officina " in lines[0] and "--help`)" in lines[0]
    code, out, err = call(["--version"])
    assert code == 0 and out.startswith("officina ")
    code, out, err = call(["kin", "--help"])
    assert code == 0 and "Usage: officina kin" in out
    code, out, err = call(["vision"])
    assert code == 2 and "Usage: officina vision" in out and not err
    code, out, err = call(["kin", "fk", "--robot", "panda", "--q", "0,0,0,-1.5,0,1.5,0"])
    assert code == 0 and "position" in out
    code, out, err = call(["kin", "ik", "--robot", "panda", "--position", "2,0,0.3", "--quaternion-xyzw", "1,0,0,0"])
    assert code == 1


def test_sweep_table_shows_every_grid_point_whole():
    """At 80 columns the grid point column folds instead of cutting 'robot=panda' and 'robot=panda-2'
    (or two long dotted keys) to the same 'robot=pa…'."""
    from rich.console import Console

    from officina.cli_core import sweep_table
    from officina.tasks import get_task

    tdef = get_task("pick-place")
    metric = {"value": 1.0, "low": 1.0, "high": 1.0, "n": 2}
    points = ["params.n_objects=1, params.velocity_scale=0.25, robot=panda",
              "params.n_objects=1, params.velocity_scale=0.25, robot=ur5e"]
    summary = [{"point": p, "runs": 2, "failed": 0, "success": metric,
                "metrics": {k: metric for k in ("objects_placed", "objects_total", "cycle_time_s")}} for p in points]
    console = Console(width=80, record=True, color_system=None)
    console.print(sweep_table(tdef, summary))
    first_column = "".join(line.split("│")[1].strip() for line in console.export_text().splitlines()
                           if line.startswith("│"))
    assert first_column == "".join("".join(p.split()) for p in points)


def test_config_that_is_a_sweep_plan_or_metrics_says_so(cli, tmp_path):
    """--config given the wrong file of a folder: one line saying which file it is (it said
    "config key 'robot': Input should be a valid string (got None)" of a sweep.yaml)."""
    import yaml

    sweep = tmp_path / "sw"
    sweep.mkdir()
    (sweep / "sweep.yaml").write_text(yaml.safe_dump({"format": 2, "task": "pick-place", "seeds": [0], "grid": {},
                                                      "robot": None, "fingerprint": "0" * 64, "runs": []}))
    (tmp_path / "metrics.json").write_text(json.dumps({"success": True, "cycle_time_s": 1.0, "robot": "panda"}))
    for f, message in ((sweep / "sweep.yaml", f"is a sweep's plan (sweep.yaml); expected a run's config.yaml, or "
                                              f"`officina sweep --resume {sweep}`"),
                       (tmp_path / "metrics.json", "is a run's metrics; expected the config.yaml beside it")):
        r = cli(["run", "--config", f, "--out", tmp_path / "run"])
        assert r.exit_code == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"config file {f} {message}" in lines[0], lines
        assert not (tmp_path / "run").exists()


def test_sweep_table_never_cuts_a_number_or_an_interval():
    """At 80 columns peg-in-hole's seven value columns fold their cells over lines: the success
    interval and every mean +- half-width are all there, not cut to 'inser…' or '[44-1…'."""
    from rich.console import Console

    from officina.cli_core import sweep_table
    from officina.tasks import get_task

    tdef = get_task("peg-in-hole")
    metric = {"value": 156.1234, "low": -6712.0, "high": 7024.2, "n": 3}
    success = {"value": 1 / 3, "low": 0.0616, "high": 0.7923, "n": 3}
    summary = [{"point": "robot=iiwa", "runs": 3, "failed": 0, "success": success,
                "metrics": {k: metric for k in ("insertion_time_s", "peak_contact_force_n", "attempts",
                                                "search_distance_mm", "cycle_time_s")}}]
    console = Console(width=80, record=True, color_system=None)
    console.print(sweep_table(tdef, summary))
    rows = [line.split("│")[1:-1] for line in console.export_text().splitlines() if line.startswith("│")]
    cells = ["".join(row[i].strip() for row in rows) for i in range(len(rows[0]))]
    assert "33 %[6-79]" in cells, cells
    assert cells.count("156.1+-6.9e+03") >= 4, cells


@pytest.mark.parametrize("columns", [None, "80", "200"])
def test_tables_written_to_a_log_are_laid_out_wider_than_80_columns(monkeypatch, columns):
    """Output that is no terminal (a CI log, a file) gets LOG_COLUMNS unless COLUMNS is set."""
    from officina.cli import LOG_COLUMNS, rich_console

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert rich_console().width == (LOG_COLUMNS if columns is None else int(columns))
    assert rich_console(stderr=True).width == (LOG_COLUMNS if columns is None else int(columns))
