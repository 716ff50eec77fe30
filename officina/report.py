"""Reports a person reads: one self-contained ``report.html`` for a run folder, a sweep folder or
an exoskeleton design study (``officina report DIR``).

Self-contained: the style and the few lines of script are inline, images are data URIs, the video
is embedded up to `VIDEO_EMBED_MAX_BYTES` (linked relative to the report above that); nothing is
fetched from the network. Everything is read from the folder's own files, so a report can be made
of a run that crashed, a sweep that was stopped half-way, or a folder copied from a cluster.

* a run: what ran (task, robot, seed, times, versions, the whole configuration), the outcome, every
  metric with its unit and meaning (the task's `metric_info`, else `tasks.base.COMMON_METRICS`), the
  events on a timeline and in a table, the safety filter's events, the plots, the video, the state
  log's topics, ``officina compare`` results when the folder has them, the error of a failed run,
  and the folder's files;
* a sweep: what was swept, the per-point summary with its intervals, the summary plot, every run in
  a sortable table (a link to each run's own report, made too), the failed runs with their reason;
* an exo design study (``officina exo sweep``): its axes, the plot, the sortable table with the
  columns' units and meanings.

A table sorts by a click on its header, or from the address: ``report.html#sort=COLUMN`` or
``#sort=COLUMN:desc``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from officina.errors import BadInput

__all__ = ["write_report", "run_report_html", "sweep_report_html", "exo_sweep_report_html", "folder_kind",
           "VIDEO_EMBED_MAX_BYTES"]

VIDEO_EMBED_MAX_BYTES = 25 * 1024 * 1024
STANDARD_PLOTS = {
    "joint_positions.png": "Commanded (grey) and measured (blue) position of every joint over the run.",
    "tracking_error.png": "The largest joint tracking error over time, with the task's events marked.",
    "signals.png": "The scalar signals the procedure logged.",
}
_NOT_METRICS = ("task", "seed", "robot", "versions")
_CSS = """
:root{--fg:#1d2430;--mut:#5b6575;--line:#d9dee6;--bg:#f6f7f9;--ok:#1a7f37;--bad:#c62828;--warn:#9a6700}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:#fff}header{padding:22px 32px 14px;background:var(--bg);border-bottom:1px solid var(--line)}
h1{margin:0 0 4px;font-size:24px}h2{font-size:19px;margin:30px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:18px 0 6px}main{padding:0 32px 40px;max-width:1280px}.sub{color:var(--mut)}
nav{margin-top:8px;font-size:14px}nav a{margin-right:14px;color:#0b5cad;text-decoration:none}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;font-size:14px;margin-right:8px}
.ok{background:#dff3e4;color:var(--ok)}.bad{background:#fde2e1;color:var(--bad)}.warn{background:#fff3cd;color:var(--warn)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{border:1px solid var(--line);border-radius:8px;
padding:10px 14px;min-width:150px;background:#fff}.card .v{font-size:20px;font-weight:600}.card .l{color:var(--mut);font-size:13px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:14px}th,td{border-bottom:1px solid var(--line);padding:4px 10px;
text-align:left;vertical-align:top}th{background:var(--bg);font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:" \\2195";color:#aab}
table.sortable th.asc:after{content:" \\2191";color:var(--fg)}table.sortable th.desc:after{content:" \\2193";color:var(--fg)}
table.facts th{background:none;font-weight:500;color:var(--mut)}.wide{overflow-x:auto;max-width:100%}pre{background:var(--bg);border:1px solid var(--line);padding:10px;overflow:auto;
font-size:13px;max-height:480px}figure{margin:12px 0 22px}figure img{max-width:100%;border:1px solid var(--line)}
figcaption{color:var(--mut);font-size:13px}video{max-width:100%;border:1px solid var(--line)}
.err{border-left:4px solid var(--bad);background:#fff5f5;padding:8px 12px}.note{color:var(--mut);font-size:13px}
details{margin:8px 0}summary{cursor:pointer}footer{color:var(--mut);font-size:12px;padding:16px 32px;border-top:1px solid var(--line)}
"""

_JS = """
(function(){
  function val(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent.trim();
    var x=parseFloat(v);return (v!==''&&!isNaN(x)&&isFinite(v))?x:v.toLowerCase();}
  function sortBy(table,col,desc){var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){var x=val(a.cells[col]),y=val(b.cells[col]);
      if(typeof x!==typeof y){x=String(x);y=String(y);}var c=x<y?-1:(x>y?1:0);return desc?-c:c;});
    rows.forEach(function(r){body.appendChild(r);});
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
      th.classList.remove('asc','desc');if(i===col)th.classList.add(desc?'desc':'asc');});
    table.setAttribute('data-sorted',table.tHead.rows[0].cells[col].getAttribute('data-col')+(desc?':desc':':asc'));}
  var tables=document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables,function(t){
    Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
      th.addEventListener('click',function(){sortBy(t,i,th.classList.contains('asc'));});});});
  var m=/sort=([^&:]+)(?::(asc|desc))?/.exec(decodeURIComponent(location.hash||''));
  if(m){Array.prototype.forEach.call(tables,function(t){
    Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
      if(th.getAttribute('data-col')===m[1])sortBy(t,i,m[2]==='desc');});});}
  window.addEventListener('load',function(){var imgs=document.images,ok=0;
    for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0)ok++;}
    document.body.setAttribute('data-images-loaded',ok+'/'+imgs.length);});
})();
"""


# --- small helpers ---------------------------------------------------------------------------------

def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        a = abs(v)
        return f"{v:.3e}" if a < 1e-3 or a >= 1e7 else f"{v:.4g}" if a < 1000 else f"{v:.1f}"
    if v is None:
        return ""
    return str(v)


def _with_unit(v: Any, unit: str) -> str:
    s = _num(v)
    return f"{s} {unit}" if unit and s and not isinstance(v, (bool, str)) else s


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _img(path: Path, alt: str) -> str:
    return f'<img src="{_data_uri(path, "image/png")}" alt="{_e(alt)}">'


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, sortable: bool = False, cls: str = "",
           keys: Sequence[str] | None = None, numeric: Sequence[bool] | None = None) -> str:
    """An HTML table; cells are (text, sort value) pairs or plain values (escaped here, except
    cells given as ("html", markup, sort value))."""
    keys = keys or columns
    head = "".join(f'<th data-col="{_e(k)}">{_e(c)}</th>' for c, k in zip(columns, keys))
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            num = numeric[i] if numeric else False
            if isinstance(c, tuple) and len(c) == 3 and c[0] == "html":
                _, markup, v = c
                cells.append(f'<td{" class=n" if num else ""} data-v="{_e(v)}">{markup}</td>')
            elif isinstance(c, tuple):
                text, v = c
                cells.append(f'<td{" class=n" if num else ""} data-v="{_e(v)}">{_e(text)}</td>')
            else:
                cells.append(f'<td{" class=n" if num else ""}>{_e(c)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    classes = " ".join(x for x in ("sortable" if sortable else "", cls) if x)
    attr = f' class="{classes}"' if classes else ""
    return (f'<div class="wide"><table{attr}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _facts(rows: Iterable[Sequence[Any]]) -> str:
    """A two-column table of facts (no header)."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<div class="wide"><table class="facts"><tbody>{body}</tbody></table></div>'


def _sort_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return v if math.isfinite(v) else ""
    return "" if v is None else str(v)


def _page(title: str, header: str, nav: Sequence[tuple[str, str]], body: str, kind: str) -> str:
    from officina import __version__

    links = "".join(f'<a href="#{_e(a)}">{_e(t)}</a>' for a, t in nav)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
            f'<body data-report="{_e(kind)}"><header>{header}<nav>{links}</nav></header><main>{body}</main>'
            f"<footer>Made by officina {_e(__version__)} (<code>officina report</code>) on {stamp}, from the files "
            f"of this folder; self-contained: no network needed.</footer><script>{_JS}</script></body></html>\n")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _mtime(path: Path) -> str:
    try:
        return _dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")
    except OSError:
        return ""


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _task(ref: str | None):
    """The task of a run, or None when it cannot be loaded here (a file moved, a package missing)."""
    if not ref:
        return None
    try:
        from officina.tasks import get_task

        return get_task(ref)
    except Exception:
        return None


# --- what kind of folder ---------------------------------------------------------------------------

def folder_kind(folder: Path) -> str:
    if (folder / "sweep.yaml").is_file():
        return "sweep"
    if (folder / "exo_sweep.json").is_file():
        return "exo-sweep"
    if (folder / "config.yaml").is_file():
        return "run"
    raise BadInput(f"{folder}: not a run folder (no config.yaml), a sweep folder (no sweep.yaml) or an "
                   "exo design study (no exo_sweep.json)")


def write_report(folder: str | Path, out: str | Path | None = None, *, runs: bool = True) -> Path:
    """Write the report of ``folder`` (default ``folder/report.html``); for a sweep, also each run's
    report unless ``runs`` is False. Returns the report's path."""
    from officina.runs import atomic_write_text, check_out_file

    d = Path(folder)
    if not d.is_dir():
        what = "a file, not a folder" if d.exists() else "no such folder"
        raise BadInput(f"{folder}: {what}; expected a run or sweep folder")
    if out is not None:
        check_out_file(out, "report.html")
    kind = folder_kind(d)
    if kind == "sweep":
        text = sweep_report_html(d, run_reports=runs)
    elif kind == "exo-sweep":
        text = exo_sweep_report_html(d)
    else:
        text = run_report_html(d)
    path = Path(out) if out is not None else d / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


# --- a run -----------------------------------------------------------------------------------------

def _status(d: Path, metrics: dict | None) -> tuple[str, str, str]:
    """(badge class, badge text, one line) of a run folder."""
    err = d / "error.txt"
    if metrics is not None:
        if metrics.get("success"):
            return "ok", "success", "The run finished and the task met its success criterion."
        return "bad", "not successful", "The run finished, but the task did not meet its success criterion."
    if err.is_file():
        text = err.read_text(errors="replace")
        if text.lower().startswith(("interrupted", "stopped by")):  # Ctrl-C; SIGTERM (runner.RunStopped)
            return "warn", "interrupted", "The run was stopped before it finished; it has no metrics."
        return "bad", "failed", "The run failed before it finished (error below); it has no metrics."
    return "warn", "unfinished", "The folder has no metrics.json and no error.txt: the run is still going, " \
                                 "or it was killed without a trace."


def _metric_rows(task: Any, metrics: dict) -> list[list[Any]]:
    from officina.tasks.base import COMMON_METRICS, key_metrics, metric_info, metric_label

    order = list(key_metrics(task)) + list(getattr(task, "metric_info", {}) or {}) + list(COMMON_METRICS)
    order += sorted(metrics)
    rows, seen = [], set()
    for k in order:
        if k in seen or k not in metrics or k in _NOT_METRICS:
            continue
        seen.add(k)
        v = metrics[k]
        if isinstance(v, (dict, list)):
            continue
        info = metric_info(task, k)
        unit, meaning = info.unit, info.meaning or "(not described by the task)"
        better = {"higher": "higher is better", "lower": "lower is better"}.get(info.better or "", "")
        rows.append([metric_label(task, k), (_num(v), _sort_value(v)), unit, meaning, better, k])
    return rows


def _spans(items: list[tuple[float, str, str]], gap_s: float = 0.02) -> list[tuple[float, float, str, int, str]]:
    """Events of one kind that follow each other within ``gap_s`` as spans: (t0, t1, kind, count,
    first detail)."""
    out: list[list] = []
    last: dict[str, list] = {}
    for t, kind, detail in sorted(items):
        sp = last.get(kind)
        if sp is not None and t - sp[1] <= gap_s:
            sp[1], sp[3] = t, sp[3] + 1
        else:
            sp = [t, t, kind, 1, detail]
            out.append(sp)
            last[kind] = sp
    return [tuple(x) for x in out]


def _timeline_svg(events: list[dict], t_end: float, spans: list[tuple[float, float, str, int, str]] = ()) -> str:
    """Events on a time axis: one row per kind of event, a dot per event (red: failures), with the
    details in the dot's tooltip; the safety filter's events as red spans."""
    items = [(float(e.get("t", 0.0)), str(e.get("event", "?")),
              ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("t", "event"))) for e in events]
    if not items and not spans:
        return ""
    kinds = list(dict.fromkeys([name for _, name, _ in items] + [sp[2] for sp in spans]))
    t_end = max([t_end] + [t for t, _, _ in items] + [sp[1] for sp in spans]) or 1.0
    left = max(120, 10 + 7 * max(len(k) for k in kinds))
    width, row_h = 760, 22
    height = 30 + row_h * len(kinds) + 26
    x = lambda t: left + width * t / t_end  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}" '
             f'role="img" aria-label="events over time" class="timeline" font-family="system-ui,sans-serif" '
             f'font-size="12">']
    for i, k in enumerate(kinds):
        y = 30 + row_h * i
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" fill="#1d2430">{_e(k)}</text>'
                     f'<line x1="{left}" y1="{y}" x2="{left + width}" y2="{y}" stroke="#e3e7ee"/>')
    axis_y = 30 + row_h * len(kinds)
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + width}" y2="{axis_y}" stroke="#5b6575"/>')
    step = _nice_step(t_end / 8)
    t = 0.0
    while t <= t_end + 1e-9:
        parts.append(f'<line x1="{x(t):.1f}" y1="{axis_y}" x2="{x(t):.1f}" y2="{axis_y + 4}" stroke="#5b6575"/>'
                     f'<text x="{x(t):.1f}" y="{axis_y + 17}" text-anchor="middle" fill="#5b6575">{t:g}</text>')
        t = round(t + step, 9)
    parts.append(f'<text x="{left + width}" y="{axis_y + 17 + 0}" text-anchor="end" dx="18" fill="#5b6575">s</text>')
    bad = ("fail", "unreachable", "skip", "error", "safety", "abort")
    for t, name, detail in items:
        y = 30 + row_h * kinds.index(name)
        color = "#c62828" if any(b in name.lower() for b in bad) else "#0b5cad"
        parts.append(f'<circle cx="{x(t):.1f}" cy="{y}" r="5" fill="{color}" class="event">'
                     f'<title>{_e(f"{t:.3f} s: {name}" + (f" ({detail})" if detail else ""))}</title></circle>')
    for t0, t1, name, n, detail in spans:
        y = 30 + row_h * kinds.index(name)
        w = max(3.0, x(t1) - x(t0))
        parts.append(f'<rect x="{x(t0) - 1.5:.1f}" y="{y - 5}" width="{w:.1f}" height="10" rx="3" fill="#c62828" '
                     f'class="span"><title>{_e(f"{t0:.3f} to {t1:.3f} s: {n} x {name} ({detail})")}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _safety(d: Path) -> list[tuple[float, str, str]]:
    """(t, 'safety: ACTION', line) of each line of safety.log."""
    p = d / "safety.log"
    if not p.is_file():
        return []
    import re

    out = []
    for line in p.read_text(errors="replace").splitlines():
        m = re.match(r"t=([-\d.eE+]+) s safety (\S+) \((\w+)\): (.*)", line)
        if m:
            out.append((float(m.group(1)), f"safety: {m.group(2)}", f"{m.group(3)}: {m.group(4)}"))
    return out


def _state_log(d: Path) -> str:
    p = d / "state.mcap"
    if not p.is_file():
        return '<p class="note">No state log.</p>'
    size = _size(p.stat().st_size)
    try:
        from mcap.reader import make_reader

        with open(p, "rb") as f:
            s = make_reader(f).get_summary()
        if s is None or s.statistics is None:
            raise ValueError("no summary")
        counts = s.statistics.channel_message_counts
        rows = [[c.topic, s.schemas[c.schema_id].name if c.schema_id in s.schemas else "",
                 (str(counts.get(cid, 0)), counts.get(cid, 0))] for cid, c in sorted(s.channels.items())]
        dur = (s.statistics.message_end_time - s.statistics.message_start_time) / 1e9
        return (f"<p><code>state.mcap</code> ({size}): {dur:.2f} s of messages, ROS 2 schemas, opens in Foxglove "
                f"and <code>ros2 bag</code>.</p>" + _table(["topic", "type", "messages"], rows, numeric=[0, 0, 1]))
    except Exception:
        return (f"<p><code>state.mcap</code> ({size}): its summary cannot be read (the run may have been stopped "
                "while it was written); the messages before the stop are in the file.</p>")


def _compare_section(d: Path) -> str:
    rep = _read_json(d / "compare.json")
    if not isinstance(rep, dict):
        return ""
    parts = ['<section id="compare"><h2>Robot or worker (<code>officina compare</code>)</h2>']
    t = rep.get("table") or {}
    if t.get("columns"):
        parts.append(_table([""] + list(t["columns"]), t.get("rows", []), numeric=[False] + [True] * len(t["columns"])))
    acts = rep.get("actions") or []
    if acts:
        parts.append("<ul>" + "".join(f"<li>{_e(a)}</li>" for a in acts) + "</ul>")
    if (d / "compare.png").is_file():
        parts.append(f'<figure>{_img(d / "compare.png", "compare.png")}<figcaption>compare.png: peak L5/S1 '
                     "compression per lift against the NIOSH limits, and the lifting index per lift.</figcaption></figure>")
    if (d / "compare.md").is_file():
        parts.append(f"<details><summary>compare.md (the manual job, its assumptions, sources)</summary>"
                     f"<pre>{_e((d / 'compare.md').read_text(errors='replace'))}</pre></details>")
    parts.append("</section>")
    return "".join(parts)


def run_report_html(d: Path) -> str:
    """The report of one run folder."""
    cfg = _read_yaml(d / "config.yaml") or {}
    metrics = _read_json(d / "metrics.json") if (d / "metrics.json").is_file() else None
    events = _read_json(d / "events.json") or []
    task = _task(cfg.get("task"))
    task_name = getattr(task, "name", None) or (metrics or {}).get("task") or str(cfg.get("task", "?"))
    robot = (metrics or {}).get("robot") or cfg.get("robot", "?")
    seed = cfg.get("seed", (metrics or {}).get("seed", "?"))
    cls, badge, line = _status(d, metrics)
    sweep_link = ""
    if (d.parent / "sweep.yaml").is_file():
        sweep_link = ' · part of a sweep: <a href="../report.html">the sweep\'s report</a>'
    header = (f"<h1>{_e(task_name)} on {_e(Path(str(robot)).stem if str(robot).endswith(('.yaml', '.yml')) else robot)}"
              f", seed {_e(seed)}</h1><p><span class=\"badge {cls}\">{_e(badge)}</span>{_e(line)}</p>"
              f'<p class="sub">run folder <code>{_e(d.name)}</code>{sweep_link}</p>')
    nav = [("summary", "summary"), ("what-ran", "what ran"), ("metrics", "metrics"), ("events", "events"),
           ("plots", "plots")]
    body = []

    # summary
    from officina.tasks.base import key_metrics, metric_info, metric_label

    body.append('<section id="summary"><h2>Summary</h2>')
    if task is not None and getattr(task, "description", ""):
        body.append(f"<p>The task: {_e(task.description)}</p>")
    if metrics is not None:
        cards = []
        for k in list(key_metrics(task)) + ["wall_time_s", "real_time_factor", "safety_events_total"]:
            if k in metrics and not isinstance(metrics[k], (dict, list)):
                cards.append(f'<div class="card"><div class="v">{_e(_with_unit(metrics[k], metric_info(task, k).unit))}'
                             f'</div><div class="l">{_e(metric_label(task, k))}</div></div>')
        body.append(f'<div class="cards">{"".join(cards)}</div>')
        if metrics.get("procedure_message"):
            body.append(f"<p>The procedure said: {_e(metrics['procedure_message'])}</p>")
    err = d / "error.txt"
    if err.is_file():
        text = err.read_text(errors="replace")
        first = text.strip().splitlines()[0] if text.strip() else ""
        body.append(f'<div class="err" id="error"><b>Error:</b> {_e(first)}<details><summary>error.txt</summary>'
                    f"<pre>{_e(text)}</pre></details></div>")
    body.append("</section>")

    # what ran
    versions = (metrics or {}).get("versions") or {}
    facts = [["task", f"{task_name}" + (f" ({cfg.get('task')})" if cfg.get("task") != task_name else "")],
             ["robot", str(robot) + (f" ({cfg.get('robot')})" if cfg.get("robot") not in (None, robot) else "")],
             ["seed", str(seed)],
             ["started", _mtime(d / "config.yaml")],
             ["finished", _mtime(d / "metrics.json") if metrics is not None else "-"]]
    if metrics is not None:
        facts.append(["simulated / wall time", f"{_num(metrics.get('cycle_time_s'))} s / "
                                                f"{_num(metrics.get('wall_time_s'))} s"])
    body.append('<section id="what-ran"><h2>What ran</h2>' + _facts(facts))
    if cfg.get("params"):
        prm = [[k, json.dumps(v) if isinstance(v, (dict, list)) else _num(v)] for k, v in cfg["params"].items()]
        body.append(f"<details><summary>Task parameters ({len(prm)})</summary>"
                    + _table(["parameter", "value"], prm) + "</details>")
    if versions:
        body.append("<details><summary>Versions: " + _e(", ".join(f"{k} {v}" for k, v in versions.items()))
                    + "</summary>" + _table(["package", "version"], [[k, v] for k, v in versions.items()])
                    + "</details>")
    body.append(f"<details><summary>The whole configuration (<code>config.yaml</code>: "
                f"<code>officina run --config config.yaml</code> runs it again)</summary>"
                f"<pre>{_e((d / 'config.yaml').read_text(errors='replace'))}</pre></details></section>")

    # metrics
    body.append('<section id="metrics"><h2>Metrics</h2>')
    if metrics is None:
        body.append('<p class="note">No metrics: the run did not finish.</p>')
    else:
        rows = _metric_rows(task, metrics)
        body.append(_table(["metric", "value", "unit", "meaning", "", "name in metrics.json"], rows,
                           numeric=[False, True, False, False, False, False]))
        nested = {k: v for k, v in metrics.items() if isinstance(v, dict) and k not in ("versions", "safety_events")}
        for k, v in nested.items():
            if v:
                body.append(f"<h3>{_e(k.replace('_', ' '))}</h3>" + _facts(
                    [[a, _num(b) if not isinstance(b, (dict, list)) else json.dumps(b)] for a, b in v.items()]))
    body.append("</section>")

    # events and safety
    safety = _safety(d)
    spans = _spans(safety)
    t_end = float((metrics or {}).get("cycle_time_s") or 0.0)
    body.append('<section id="events"><h2>Events</h2>')
    if events or safety:
        body.append('<p class="note">What the procedure did and when (sim time); a dot per event, red for '
                    "failures and safety-filter interventions; hover a dot for its details.</p>")
        body.append(_timeline_svg(events, t_end, spans))
        shown = events[:300]
        body.append(_table(["t [s]", "event", "details"], [[(f"{float(e.get('t', 0)):.3f}", e.get("t", 0)),
                                                            e.get("event", ""), ", ".join(
            f"{k}={v}" for k, v in e.items() if k not in ("t", "event"))] for e in shown],
                           sortable=True, keys=["t", "event", "details"], numeric=[True, False, False]))
        if len(events) > len(shown):
            body.append(f'<p class="note">{len(events) - len(shown)} more events in events.json.</p>')
    else:
        body.append('<p class="note">No events were logged.</p>')
    body.append("</section>")
    body.append('<section id="safety"><h2>Safety filter</h2>')
    if safety:
        kinds: dict[str, list] = {}
        for t, k, w in safety:
            kinds.setdefault(k, []).append((t, w))
        body.append(f"<p>The safety filter intervened {len(safety)} time{'s' if len(safety) != 1 else ''} "
                    f"(<code>safety.log</code> has every one), in {len(spans)} "
                    f"stretch{'es' if len(spans) != 1 else ''}:</p>")
        body.append(_table(["event", "count", "first [s]", "last [s]", "what (first)"], [
            [k.removeprefix("safety: "), (str(len(v)), len(v)), (f"{v[0][0]:.3f}", v[0][0]),
             (f"{v[-1][0]:.3f}", v[-1][0]), v[0][1]] for k, v in kinds.items()],
            numeric=[False, True, True, True, False]))
        body.append(_table(["from [s]", "to [s]", "event", "count", "what (first)"], [
            [(f"{t0:.3f}", t0), (f"{t1:.3f}", t1), k.removeprefix("safety: "), (str(n), n), w]
            for t0, t1, k, n, w in spans[:200]], numeric=[True, True, False, True, False], cls="spans"))
    else:
        body.append("<p>The safety filter did not have to clamp, reject or hold any command.</p>")
    body.append("</section>")
    nav.append(("safety", "safety"))

    # plots
    pngs = [d / n for n in STANDARD_PLOTS if (d / n).is_file()]
    pngs += sorted(p for p in d.glob("*.png") if p.name not in STANDARD_PLOTS and p.name != "compare.png")
    body.append('<section id="plots"><h2>Plots</h2>')
    for p in pngs:
        cap = STANDARD_PLOTS.get(p.name, "A plot of the task's own.")
        body.append(f"<figure>{_img(p, p.name)}<figcaption>{_e(p.name)}: {_e(cap)}</figcaption></figure>")
    if not pngs:
        body.append('<p class="note">No plots (the run did not finish, or log.plots was off).</p>')
    body.append("</section>")

    # video
    vid = d / "video.mp4"
    if vid.is_file():
        nav.append(("video", "video"))
        if vid.stat().st_size <= VIDEO_EMBED_MAX_BYTES:
            src, note = _data_uri(vid, "video/mp4"), "embedded"
        else:
            src, note = "video.mp4", "linked: video.mp4 next to this report"
        body.append(f'<section id="video"><h2>Video</h2><video controls preload="metadata" src="{src}"></video>'
                    f'<p class="note">{_e(note)} ({_size(vid.stat().st_size)}).</p></section>')

    comp = _compare_section(d)
    if comp:
        nav.append(("compare", "robot or worker"))
        body.append(comp)
    body.append('<section id="log"><h2>State log</h2>' + _state_log(d) + "</section>")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.name != "report.html")
    body.append('<section id="files"><h2>Files</h2>' + _table(["file", "size"], [
        [("html", f'<a href="{_e(p.name)}">{_e(p.name)}</a>', p.name), (_size(p.stat().st_size), p.stat().st_size)]
        for p in files], numeric=[False, True]) + "</section>")
    nav += [("log", "state log"), ("files", "files")]
    return _page(f"{task_name} on {robot}, seed {seed}: {badge}", header, nav, "".join(body), "run")


# --- a sweep ---------------------------------------------------------------------------------------

def _sweep_rows(d: Path, plan: dict) -> tuple[list[dict], list[str]]:
    """The latest row of each run (results.jsonl), and the names of the runs not done."""
    from officina.results import read_journal

    last: dict[str, dict] = {}
    for e in read_journal(d):
        last[e["run"]] = e
    names = [r["name"] for r in plan.get("runs", [])]
    rows = [last[n] for n in names if n in last] + [r for n, r in last.items() if n not in names]
    return rows, [n for n in names if n not in last]


def sweep_report_html(d: Path, *, run_reports: bool = True) -> str:
    """The report of a sweep folder (finished or not); with ``run_reports`` each run's report too."""
    from officina.sweep import RUN_COLUMNS, point_label

    plan = _read_yaml(d / "sweep.yaml") or {}
    done = _read_json(d / "sweep.json") if (d / "sweep.json").is_file() else None
    task = _task(plan.get("task"))
    task_name = getattr(task, "name", None) or str(plan.get("task", "?"))
    rows, pending = _sweep_rows(d, plan)
    grid = plan.get("grid") or {}
    n_total = len(plan.get("runs", [])) or len(rows)
    n_failed = sum(r.get("status") == "failed" for r in rows)
    n_ok = sum(r.get("status") == "ok" for r in rows)
    if done is not None and not pending:
        cls, badge = ("ok", "finished") if not n_failed else ("warn", "finished with failures")
    else:
        cls, badge = "warn", "not finished"
    line = f"{n_ok} ok, {n_failed} failed, {len(pending)} not run, of {n_total} runs."
    header = (f"<h1>Sweep of {_e(task_name)}: {n_total} runs</h1><p><span class=\"badge {cls}\">{_e(badge)}</span>"
              f"{_e(line)}</p><p class=\"sub\">sweep folder <code>{_e(d.name)}</code></p>")
    nav = [("what-ran", "what ran"), ("summary", "summary"), ("runs", "runs")]
    body = []
    axes = ", ".join(f"{k} = {', '.join(map(str, v))}" for k, v in grid.items()) or "no grid"
    facts = [["task", f"{task_name} ({plan.get('task')})" if plan.get("task") != task_name else task_name],
             ["seeds", ", ".join(map(str, plan.get("seeds", [])))], ["grid", axes],
             ["robot", str(plan.get("robot") or "from the configuration")],
             ["config file", str(plan.get("config_file") or "-")],
             ["overrides", " ".join(plan.get("overrides") or []) or "-"],
             ["started", str(plan.get("created", "")).replace("T", " ")[:19]], ["finished", _mtime(d / "sweep.json") if done else "-"],
             ["officina", str(plan.get("officina", ""))]]
    if pending:
        how = f'Finish it with <code>officina sweep --resume {_e(d.name)}</code>; the '
    elif n_failed:
        how = f'Rerun the failed runs with <code>officina sweep --resume {_e(d.name)} --retry-failed</code>; the '
    else:
        how = "The "
    body.append('<section id="what-ran"><h2>What ran</h2>' + _facts(facts) +
                f'<p class="note">{how}table below is <code>results.csv</code> (and <code>results.parquet</code>).'
                "</p></section>")

    # summary per grid point
    from officina.tasks.base import key_metrics, metric_info, metric_label

    shown = [k for k in key_metrics(task) if k != "success"]
    summary = (done or {}).get("summary")
    if summary is None and rows:
        try:
            from officina.sweep import _metrics_of_row, summarize

            gk = set(grid)
            srows = [{"point": point_label({k: r.get(k) for k in grid}), "grid": {k: r.get(k) for k in grid},
                      "status": r.get("status"), "success": bool(r.get("success")) and r.get("status") == "ok",
                      "metrics": _metrics_of_row(r, gk) if r.get("status") == "ok" else {}} for r in rows]
            summary = summarize(srows, shown)
        except Exception:
            summary = None
    body.append('<section id="summary"><h2>Summary per grid point</h2>')
    if summary:
        cols = ["grid point", "runs", "failed", "success"] + [
            metric_label(task, k) + (f" [{metric_info(task, k).unit}]" if metric_info(task, k).unit else "")
            for k in shown]
        trs = []
        for s in summary:
            sc = s["success"]
            succ = "-" if sc["value"] is None else f"{100 * sc['value']:.0f} %" + (
                f" ({100 * sc['low']:.0f} to {100 * sc['high']:.0f})" if sc["low"] is not None else "")
            cells = [s["point"], (str(s["runs"]), s["runs"]), (str(s["failed"]), s["failed"]),
                     (succ, sc["value"] if sc["value"] is not None else "")]
            for k in shown:
                m = s["metrics"].get(k) or {}
                if m.get("value") is None:
                    cells.append(("-", ""))
                else:
                    txt = _num(m["value"]) + (f" ({_num(m['low'])} to {_num(m['high'])})" if m.get("low") is not None
                                              else "")
                    cells.append((txt, m["value"]))
            trs.append(cells)
        body.append(_table(cols, trs, sortable=True, numeric=[False] + [True] * (len(cols) - 1)))
        body.append('<p class="note">Success rate with its Wilson score interval (95 %; a failed run counts as '
                    "not successful); metrics: the mean over the runs that finished, with the Student t interval "
                    "of the mean (95 %), none for a single run.</p>")
    if (d / "sweep.png").is_file():
        body.append(f'<figure>{_img(d / "sweep.png", "sweep.png")}<figcaption>sweep.png: per grid point, the '
                    "success rate and the task's key metrics (dots: runs; squares: means with their "
                    "intervals).</figcaption></figure>")
    elif not summary:
        body.append('<p class="note">No run has finished yet.</p>')
    body.append("</section>")

    # runs
    gk = list(grid)
    metric_cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in RUN_COLUMNS and k not in gk and k not in metric_cols:
                metric_cols.append(k)
    keys = [k for k in key_metrics(task) if k in metric_cols]
    rest = [k for k in metric_cols if k not in keys]

    def label(k: str) -> str:
        m = k.removeprefix("metric.")
        return metric_label(task, m) + (f" [{metric_info(task, m).unit}]" if metric_info(task, m).unit else "")

    cols = ["run", "status", "seed", *gk, *keys, "error", *rest, "wall_s", "cpu_s", "attempt"]
    labels = ["run", "status", "seed", *[k.split(".")[-1] for k in gk], *map(label, keys), "error",
              *map(label, rest), "wall [s]", "CPU [s]", "attempt"]
    numeric = [False, False, True, *[False] * len(gk), *[True] * len(keys), False, *[True] * len(rest), True, True,
               True]
    trs = []
    for r in rows:
        name = r["run"]
        rd = d / name
        if run_reports and rd.is_dir() and (rd / "config.yaml").is_file():
            (rd / "report.html").write_text(run_report_html(rd))
        link = f'<a href="{_e(name)}/report.html">{_e(name)}</a>' if (rd / "report.html").is_file() else _e(name)
        cells: list[Any] = [("html", link, name)]
        for c in cols[1:]:
            v = r.get(c)
            if c == "status":
                cells.append(("html", f'<span class="badge {"ok" if v == "ok" else "bad"}">{_e(v)}</span>', v))
            else:
                cells.append((_num(v), _sort_value(v)))
        trs.append(cells)
    for name in pending:
        trs.append([name, ("not run", "~"), *[("", "")] * (len(cols) - 2)])
    body.append(f'<section id="runs"><h2>Runs</h2><p class="note">One row per run (click a header to sort; '
                f"a run's name opens its own report). {len(rows)} finished or failed"
                f"{f', {len(pending)} not run' if pending else ''}.</p>")
    body.append(_table(labels, trs, sortable=True, keys=cols, cls="runs", numeric=numeric))
    body.append("</section>")
    failed = [r for r in rows if r.get("status") == "failed"]
    if failed:
        nav.append(("failed", "failed runs"))
        body.append('<section id="failed"><h2>Failed runs</h2><ul>' + "".join(
            f'<li><a href="{_e(r["run"])}/report.html">{_e(r["run"])}</a>: {_e(r.get("error"))}</li>'
            for r in failed) + "</ul><p class=\"note\">Rerun them with <code>officina sweep --resume "
            f"{_e(d.name)} --retry-failed</code>.</p></section>")
    return _page(f"sweep of {task_name}: {badge}", header, nav, "".join(body), "sweep")


# --- an exo design study ---------------------------------------------------------------------------

def exo_sweep_report_html(d: Path) -> str:
    doc = _read_json(d / "exo_sweep.json") or {}
    rows = doc.get("rows") or []
    colinfo = doc.get("columns") or {}
    person = doc.get("person") or {}
    header = (f"<h1>Exoskeleton design study: {len(rows)} design points</h1><p class=\"sub\">a passive back "
              f"exo's spring stiffness x preload, over loads and lift styles; folder <code>{_e(d.name)}</code></p>")
    facts = [[k.replace("_", " "), ", ".join(map(_num, v)) if isinstance(v, list) else _num(v)]
             for k, v in (doc.get("axes") or {}).items()]
    facts += [[k.replace("_", " "), _num(v)] for k, v in (doc.get("fixed") or {}).items()]
    facts += [["person", f"{_num(person.get('body_mass_kg'))} kg, {_num(person.get('stature_m'))} m, "
                         f"{person.get('sex', '')}"]]
    body = ['<section id="what-ran"><h2>What was studied</h2>' + _facts(facts) + "</section>"]
    if (d / "exo_sweep.png").is_file():
        body.append(f'<section id="plot"><h2>Plot</h2><figure>{_img(d / "exo_sweep.png", "exo_sweep.png")}'
                    "<figcaption>Peak L5/S1 compression and the peak moment against the person over the stiffness, "
                    "one line per preload.</figcaption></figure></section>")
    cols = list(rows[0]) if rows else []
    labels = [c + (f" [{colinfo[c]['unit']}]" if c in colinfo and colinfo[c].get("unit") else "") for c in cols]
    trs = [[(_num(r.get(c)), _sort_value(r.get(c))) for c in cols] for r in rows]
    body.append('<section id="table"><h2>Design points</h2><p class="note">Click a header to sort.</p>' +
                _table(labels, trs, sortable=True, keys=cols, numeric=[isinstance(rows[0].get(c), (int, float))
                                                                       for c in cols] if rows else None) +
                "</section>")
    body.append('<section id="columns"><h2>What the columns mean</h2>' + _table(
        ["column", "unit", "meaning"], [[k, v.get("unit", ""), v.get("meaning", "")] for k, v in colinfo.items()]) +
        "</section>")
    nav = [("what-ran", "what was studied"), ("plot", "plot"), ("table", "design points"), ("columns", "columns")]
    return _page("exoskeleton design study", header, nav, "".join(body), "exo-sweep")
