"""A self-contained static HTML page for a leaderboard: sortable summary, every row, both plots.

Everything is inline (CSS, a few lines of JavaScript, the plots as base64 PNG): the page opens
from disk with no network access. Click a column header to sort by it; click again to reverse.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

from .errors import AlignbenchError
from .io import atomic_write_text
from .names import name_problem
from .owned import check_replaceable
from .tables import (
    fmt_cell, frontier_png, is_missing, load_leaderboard, long_columns, notes, rows_from_frame, sort_rows,
    summary_table, title_for, win_rate_png, with_run,
)

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px; \
color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; cursor: pointer; user-select: none; position: sticky; top: 0; }
th:hover { background: #e4e4e4; }
th[aria-sort="ascending"]::after { content: " \\25B2"; } th[aria-sort="descending"]::after { content: " \\25BC"; }
td.text, th.text { text-align: left; }
tbody tr:nth-child(even) { background: #fafafa; }
.note { color: #555; font-size: 0.9em; max-width: 60em; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
"""

SCRIPT = """
function sortTable(tableId, column, direction) {
  const table = document.getElementById(tableId);
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = row => {
    const cell = row.cells[column];
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent;
    const num = parseFloat(raw);
    return raw === "" ? null : (isNaN(num) || !/^-?[0-9.eE+-]+$/.test(raw.trim()) ? raw.toLowerCase() : num);
  };
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null && y === null) return 0;
    if (x === null) return 1;  // empty cells last either way
    if (y === null) return -1;
    const c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
    return direction === "asc" ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
  Array.from(table.tHead.rows[0].cells).forEach((th, i) =>
    th.setAttribute("aria-sort", i === column ? (direction === "asc" ? "ascending" : "descending") : "none"));
}
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(table => {
    Array.from(table.tHead.rows[0].cells).forEach((th, i) => th.addEventListener("click", () => {
      const next = th.getAttribute("aria-sort") === "descending" ? "asc" : "desc";
      sortTable(table.id, i, next);
    }));
  });
});
"""


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return f'<p class="note">({html.escape(alt)}: no rows carry the numbers this plot needs.)</p>'
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(
    table_id: str, header: list[str], cells: list[list[str]], sort_values: list[list], text_columns: set[int]
) -> str:
    head = "".join(f'<th class="{"text" if i in text_columns else "num"}" aria-sort="none" '
                   f'title="sort by {html.escape(h)}">'
                   f"{html.escape(h)}</th>" for i, h in enumerate(header))
    body = []
    for row, values in zip(cells, sort_values):
        tds = []
        for i, (cell, value) in enumerate(zip(row, values)):
            sort = "" if value is None else html.escape(str(value), quote=True)
            tds.append(f'<td class="{"text" if i in text_columns else "num"}" '
                       f'data-sort="{sort}">{html.escape(cell)}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def render_html(rows: list[dict], title: str, win_rate_png_bytes: bytes | None = None,
                frontier_png_bytes: bytes | None = None) -> str:
    if not rows:
        raise AlignbenchError(f"leaderboard {title}: no rows to publish")
    rows = sort_rows(with_run(rows))
    header, cells, numbers = summary_table(rows)
    n_keys = len(header) - len({f"{r.get('evaluator')} vs {r.get('baseline')}" for r in rows})
    summary = _table("summary", header, cells, numbers, set(range(n_keys)))
    cols = long_columns(rows)
    text_cols = {i for i, c in enumerate(cols) if c in ("task", "run", "method", "evaluator", "baseline")}
    long_cells = [[fmt_cell(c, r.get(c), r) for c in cols] for r in rows]
    long_values = [[None if is_missing(r.get(c)) else r.get(c) for c in cols] for r in rows]
    long = _table("rows", cols, long_cells, long_values, text_cols)
    win = win_rate_png_bytes if win_rate_png_bytes is not None else win_rate_png(rows)
    frontier = frontier_png_bytes if frontier_png_bytes is not None else frontier_png(rows)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    methods = sorted({str(r["method"]) for r in rows})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>alignbench leaderboard: {html.escape(title)}</title>
<style>{STYLE}</style>
<script>{SCRIPT}</script>
</head><body>
<h1>alignbench leaderboard: {html.escape(title)}</h1>
<p class="note">{len(methods)} methods, {len(rows)} rows. Win rates in percent against the \
baseline named in each column,
with 95% bootstrap intervals over prompts. Click a column header to sort by it (click again to reverse).
Every column is described in <code>leaderboards/README.md</code>. Generated {stamp} by alignbench.</p>
{"".join(f'<p class="note">{html.escape(n)}</p>' + chr(10) for n in notes(rows))}<h2>Summary</h2>
{summary}
<h2>Win rates</h2>
{_img(win, "win rate per method with 95% interval, one panel per evaluator and baseline")}
<h2>KL–reward frontier</h2>
{_img(frontier, "KL to the SFT policy against reward, one point per method")}
<h2>All rows</h2>
<p class="note">Sorted by win rate within each evaluator × baseline. The CSV beside this page holds full precision.</p>
{long}
</body></html>
"""


def write_html(rows: list[dict], path: str | Path, title: str, win_rate_png_bytes: bytes | None = None,
               frontier_png_bytes: bytes | None = None) -> Path:
    path = Path(path)
    atomic_write_text(path, render_html(rows, title, win_rate_png_bytes, frontier_png_bytes))
    return path


def html_from_leaderboard(source: str | Path, out: str | Path | None = None) -> Path:
    """Publish a leaderboard CSV (or a run's rows.json / run directory) as ``<name>.html`` beside it (or at ``out``)."""
    source = Path(source)
    rows = rows_from_frame(load_leaderboard(source))
    if out is None:
        if source.is_dir() or source.name == "rows.json":
            task = str(rows[0].get("task")) if rows else "leaderboard"
            if name_problem(task):
                raise AlignbenchError(f"{source}: the rows' task {task[:40]!r} {name_problem(task)}, so it cannot name "
                                      "leaderboards/<task>.html; give --out")
            out = Path("leaderboards") / f"{task}.html"
        else:
            out = source.with_suffix(".html")
    check_replaceable([out], "choose another --out")
    return write_html(rows, out, title_for(rows))
