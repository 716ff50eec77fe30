"""`officina report`: the report.html of a run, a sweep and an exo design study, rendered in
headless Chromium (Debian's `chromium`); the tests read the page as the browser built it."""

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TOUCH = f"{DATA / 'lab_task.py'}:TouchPoint"


def chromium_dom(page: Path, tmp_path: Path, fragment: str = "") -> str:
    """The page's DOM after load and its scripts, from headless Chromium (no network, no GPU)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Chromium is not installed: apt-get install chromium (.ci/run installs it)")
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run",
                        f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
                        page.resolve().as_uri() + fragment], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "<body" in r.stdout, r.stderr[-2000:]
    return r.stdout


class Page(HTMLParser):
    """What a reader sees: the body's attributes, the text, the tables (cell texts by row), images,
    videos, links, timeline dots."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.text: list[str] = []
        self.tables: list[dict] = []
        self.images: list[str] = []
        self.videos: list[str] = []
        self.links: list[str] = []
        self.circles = 0
        self.spans = 0
        self._cell: list[str] | None = None
        self._skip = 0
        self.feed(dom)
        self.all_text = " ".join(" ".join(self.text).split())

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag in ("script", "style", "title"):
            self._skip += 1
        elif tag == "table":
            self.tables.append({"class": a.get("class", ""), "head": [], "rows": [], "keys": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []
            if tag == "th" and "data-col" in a:
                self.tables[-1]["keys"].append(a["data-col"])
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "video":
            self.videos.append(a.get("src", ""))
        elif tag == "a":
            self.links.append(a.get("href", ""))
        elif tag == "circle" and "event" in a.get("class", ""):
            self.circles += 1
        elif tag == "rect" and "span" in a.get("class", ""):
            self.spans += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title"):
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1]["rows"][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def table_with(self, first_header: str) -> dict:
        return next(t for t in self.tables if t["rows"] and t["rows"][0] and t["rows"][0][0] == first_header)


@pytest.fixture(scope="module")
def touch_run(tmp_path_factory):
    """A real run with a video, a logged signal, events and safety-filter interventions."""
    from officina.runner import execute_run, resolve_config

    out = tmp_path_factory.mktemp("report") / "run"
    execute_run(resolve_config(TOUCH, seed=2, video=True, overrides=["safety.velocity_scale=0.3"]), out)
    return out


@pytest.mark.timeout(300)
def test_run_report_in_chromium(cli, touch_run, tmp_path):
    r = cli(["report", touch_run])
    assert r.exit_code == 0 and "report.html" in r.stdout, r.output
    page = Page(chromium_dom(touch_run / "report.html", tmp_path))
    m = json.loads((touch_run / "metrics.json").read_text())
    assert page.body["data-report"] == "run"
    # every image decoded in the browser; the video embedded; nothing fetched from elsewhere
    n_png = len(list(touch_run.glob("*.png")))
    assert n_png >= 3 and page.body["data-images-loaded"] == f"{n_png}/{n_png}"
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.videos and page.videos[0].startswith("data:video/mp4;base64,")
    html_text = (touch_run / "report.html").read_text()
    assert "http://" not in html_text.replace("http://www.w3.org/2000/svg", "") and "https://" not in html_text
    # what ran: task, robot, seed, versions, the configuration
    assert "touch-point on panda, seed 2" in page.all_text and "success" in page.all_text
    assert "Drive the tcp to a point above the table" in page.all_text
    assert f"pinocchio {m['versions']['pinocchio']}" in page.all_text
    assert "velocity_scale: 0.3" in page.all_text  # config.yaml, whole
    # the metrics with their value, unit and meaning: the task's own and the common ones
    metrics = {row[5]: row for row in page.table_with("metric")["rows"][1:]}
    assert metrics["closest_mm"][0] == "closest mm" and metrics["closest_mm"][2] == "mm"
    assert metrics["closest_mm"][3] == "closest approach of the tcp to the point"
    assert float(metrics["closest_mm"][1]) == pytest.approx(m["closest_mm"], rel=1e-3)
    assert metrics["cycle_time_s"][2] == "s" and "simulated time" in metrics["cycle_time_s"][3]
    assert metrics["max_joint_tracking_error_rad"][4] == "lower is better"
    # events on the timeline and in the table; the safety filter's interventions as spans
    events = json.loads((touch_run / "events.json").read_text())
    assert page.circles == len(events) >= 1 and "reached" in page.all_text
    assert page.spans >= 1 and f"intervened {m['safety_events_total']} times" in page.all_text
    kinds = {row[0]: int(row[1]) for row in page.table_with("event")["rows"][1:]}
    assert sum(kinds.values()) == m["safety_events_total"]
    # the state log's topics, and the files
    topics = {row[0]: int(row[2]) for row in page.table_with("topic")["rows"][1:]}
    assert topics["/joint_states"] > 100 and "/signals/distance_mm" in topics
    assert "metrics.json" in page.links and "state.mcap" in page.links


@pytest.mark.timeout(300)
def test_report_of_a_failed_run(cli, tmp_path):
    from officina.errors import JobFailed
    from officina.runner import execute_run, resolve_config

    with pytest.raises(JobFailed):
        execute_run(resolve_config(f"{DATA / 'crash_task.py'}:CrashTask", overrides=["params.crash=raise"]),
                    tmp_path / "run")
    r = cli(["report", tmp_path / "run", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["kind"] == "run"
    page = Page(chromium_dom(tmp_path / "run" / "report.html", tmp_path))
    assert "failed" in page.all_text and "RuntimeError: the gripper driver lost its connection" in page.all_text
    assert "No metrics: the run did not finish." in page.all_text
    r = cli(["report", tmp_path])
    assert r.exit_code == 2 and "not a run folder" in r.stderr


@pytest.mark.timeout(300)
def test_sweep_report_in_chromium(cli, tmp_path):
    out = tmp_path / "sw"
    r = cli(["sweep", TOUCH, "--seeds", "0-1", "--grid", "params.hold_s=0.0,0.2", "--workers", "2", "--out", out])
    assert r.exit_code == 0, r.output
    r = cli(["report", out])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "sweep.json").read_text())
    # sorted from the address: the longest cycle time first
    page = Page(chromium_dom(out / "report.html", tmp_path, "#sort=cycle_time_s:desc"))
    assert page.body["data-report"] == "sweep" and page.body["data-images-loaded"] == "1/1"
    assert "Sweep of touch-point: 4 runs" in page.all_text and "finished" in page.all_text
    runs = next(t for t in page.tables if "runs" in t["class"])
    keys = runs["keys"]
    rows = [dict(zip(keys, row)) for row in runs["rows"][1:]]
    assert len(rows) == 4 and {r["run"] for r in rows} == {row["name"] for row in data["runs"]}
    times = [float(r["cycle_time_s"]) for r in rows]
    assert times == sorted(times, reverse=True) and times[0] > times[-1]
    assert all(r["status"] == "ok" and r["success"] == "yes" for r in rows)
    by_name = {row["name"]: row for row in data["runs"]}
    assert all(float(r["closest_mm"]) == pytest.approx(by_name[r["run"]]["metrics"]["closest_mm"], rel=1e-3)
               for r in rows)
    # each run's own report is written and linked; it links back to the sweep
    for row in data["runs"]:
        assert f"{row['name']}/report.html" in page.links
        assert (out / row["name"] / "report.html").is_file()
    assert "../report.html" in (out / data["runs"][0]["name"] / "report.html").read_text()
    # the summary per grid point with its intervals
    summary = page.table_with("grid point")["rows"][1:]
    assert [row[0] for row in summary] == ["hold_s=0.0", "hold_s=0.2"]
    assert all(row[3].startswith("100 % (") for row in summary)
    assert "Wilson score interval" in page.all_text and "Student t interval" in page.all_text

    # a sweep stopped half-way (no sweep.json, a run not recorded): its report says so
    (out / "sweep.json").unlink()
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    cli(["report", out, "--no-runs"])
    page = Page(chromium_dom(out / "report.html", tmp_path))
    assert "not finished" in page.all_text and "3 ok, 0 failed, 1 not run, of 4 runs" in page.all_text
    runs = next(t for t in page.tables if "runs" in t["class"])
    assert sum(1 for row in runs["rows"][1:] if row[1] == "not run") == 1


def test_exo_sweep_report_in_chromium(cli, tmp_path):
    out = tmp_path / "study"
    r = cli(["exo", "sweep", "--stiffness", "0,30,60", "--preload", "0,8", "--load-kg", "10", "--lift-style",
             "stoop", "--out", out])
    assert r.exit_code == 0, r.output
    assert cli(["report", out]).exit_code == 0
    page = Page(chromium_dom(out / "report.html", tmp_path, "#sort=peak_compression_n"))
    assert page.body["data-report"] == "exo-sweep" and page.body["data-images-loaded"] == "1/1"
    table = next(t for t in page.tables if "sortable" in t["class"])
    rows = [dict(zip(table["keys"], row)) for row in table["rows"][1:]]
    comp = [float(r["peak_compression_n"]) for r in rows]
    assert len(rows) == 6 and comp == sorted(comp)
    meanings = {row[0]: row for row in page.table_with("column")["rows"][1:]}
    assert meanings["peak_compression_n"][1] == "N" and "compression" in meanings["peak_compression_n"][2]


def test_report_paths_that_are_wrong_are_one_line(cli, tmp_path):
    """A file where a folder is expected, a folder where --out's HTML file goes, --out in a folder
    that does not exist yet (made) or under a file."""
    study = tmp_path / "study"
    assert cli(["exo", "sweep", "--stiffness", "0,30", "--preload", "0", "--load-kg", "10", "--lift-style", "stoop",
                "--out", study]).exit_code == 0
    f = tmp_path / "notes.txt"
    f.write_text("x")
    for args, message in (
        ([f], f"{f}: a file, not a folder; expected a run or sweep folder"),
        ([study, "--out", tmp_path], f"--out {tmp_path}: a folder; expected the file to write, e.g. "
                                     f"{tmp_path / 'report.html'}"),
        ([study, "--out", f / "r.html"], f"--out {f / 'r.html'}: {f} is a file, not a folder"),
        (["--resume", f], f"--resume {f}: a file, not a folder; expected a sweep folder"),
        (["--resume", study], f"--resume {study}: the folder holds no sweep.yaml; expected a folder made by officina sweep"),
    ):
        r = cli(["sweep" if args[0] == "--resume" else "report", *args])
        assert r.exit_code == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"officina: error: {message}"), lines
    r = cli(["report", study, "--out", tmp_path / "new" / "deeper" / "study.html"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "new" / "deeper" / "study.html").read_text().lower().startswith("<!doctype html>")


def test_a_run_stopped_by_sigterm_is_interrupted_not_failed(tmp_path):
    """error.txt of a run stopped by a signal (officina.runner.RunStopped): the report's status is
    'interrupted', as for Ctrl-C, not 'failed'."""
    from officina.report import _status
    from officina.runner import RunStopped

    for text, badge in ((f"{RunStopped(15)}; no metrics were written, the state log keeps the run up to the stop\n",
                         "interrupted"),
                        ("interrupted by the user; no metrics were written\n", "interrupted"),
                        ("Traceback (most recent call last):\nRuntimeError: boom\n", "failed")):
        (tmp_path / "error.txt").write_text(text)
        assert _status(tmp_path, None)[1] == badge, text


def test_sweep_report_says_how_to_go_on(tmp_path):
    """A sweep with runs left says how to finish it, one with failed runs how to rerun them, and a
    finished one neither (it said 'Resume or finish it' of every sweep)."""
    from officina.report import sweep_report_html
    from officina.sweep import open_sweep

    d, points, _ = open_sweep(TOUCH, seeds=[0, 1], grid={}, out=tmp_path / "sw")

    def html(*statuses):
        (d / "results.jsonl").write_text("".join(json.dumps({"run": p.name, "status": s, "seed": p.seed}) + "\n"
                                                 for p, s in zip(points, statuses)))
        return sweep_report_html(d, run_reports=False)

    page = html("ok")
    assert "Finish it with <code>officina sweep --resume sw</code>" in page
    page = html("ok", "failed")
    assert "Rerun the failed runs with <code>officina sweep --resume sw --retry-failed</code>" in page
    page = html("ok", "ok")
    assert "officina sweep --resume" not in page and "The table below is <code>results.csv</code>" in page
