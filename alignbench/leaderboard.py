"""Leaderboard files: the CSV (the fixed schema), Markdown, PNGs and the HTML page written together, leaderboards
built from run directories and benchmark files, and the rich table on screen. Cells, tables and plots are
:mod:`.tables`' (re-exported here)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from .errors import AlignbenchError
from .evaluation.alpaca_eval import rows_from_annotation_files
from .evaluation.arena_hard import rows_from_arena_hard
from .evaluation.evaluate import save_comparisons
from .evaluation.mtbench_results import rows_from_mt_bench
from .evaluation.schema import COLUMNS, EXTRA  # noqa: F401  (re-exported)
from .io import atomic_write_bytes, atomic_write_text
from .names import csv_cell
from .owned import check_replaceable, leaderboard_files
from .report_html import write_html
from .tables import (  # noqa: F401  (re-exported: the leaderboard's public names)
    fmt_cell, frontier_png, leaderboard_frame, load_leaderboard, long_columns, panel_label, plot_frontier, read_rows,
    rows_from_frame, sort_rows, summary_table, title_for, to_markdown, win_rate_panels, win_rate_png, with_run,
)


def write_leaderboard(rows: list[dict], out_csv: str | Path, title: str | None = None, force: bool = False,
                      optimal=None, reward_key: str = "exact_reward",
                      frontier_path: str | Path | None = None) -> dict[str, Path]:
    """Write the CSV (full float precision, atomically), Markdown, a win-rate PNG and an HTML page beside it;
    with ``frontier_path``, also the frontier PNG (the same image the page embeds)."""
    out_csv = Path(out_csv)
    if not rows:
        raise AlignbenchError(f"{out_csv}: no rows to write")
    if not force:
        guard_overwrite(out_csv, frontier_path)
    rows = sort_rows(with_run(rows))
    title = title or title_for(rows)
    df = leaderboard_frame(rows)
    atomic_write_text(out_csv, df.map(csv_cell).to_csv(index=False))
    md = out_csv.with_suffix(".md")
    atomic_write_text(md, to_markdown(df, title))
    png = out_csv.with_suffix(".png")
    win_png = win_rate_png(rows)
    atomic_write_bytes(png, win_png)
    frontier = frontier_png(rows, reward_key, optimal)
    paths = {"csv": out_csv, "md": md, "png": png}
    if frontier_path is not None and frontier is not None:
        paths["frontier"] = Path(frontier_path)
        atomic_write_bytes(paths["frontier"], frontier)
    paths["html"] = out_csv.with_suffix(".html")
    write_html(rows, paths["html"], title, win_rate_png_bytes=win_png, frontier_png_bytes=frontier)
    return paths


def guard_overwrite(out_csv: Path, frontier_path: Path | None = None,
                    remedy: str = "choose another --out or pass --force to overwrite it") -> None:
    """Refuse to replace a file this tool did not write, at the CSV and at every name written beside it."""
    if out_csv.is_dir():
        raise AlignbenchError(f"{out_csv}: is a directory; --out names the leaderboard CSV file")
    check_replaceable(leaderboard_files(out_csv, frontier_path), remedy)


def print_table(rows: list[dict], console, title: str = "leaderboard") -> None:
    """The summary (one row per method) first, then every row, rounded."""
    rows = sort_rows(with_run(rows))
    header, cells, _ = summary_table(rows)
    console.print(Text(title, style="bold"))
    summary = Table(title="summary: win % [95% CI]", title_justify="left")
    for i, h in enumerate(header):
        summary.add_column(h.removeprefix("win % "), style="bold" if h == "method" else None, no_wrap=True,
                           justify="left" if i < len(header) - len(set(panel_label(r) for r in rows)) else "right")
    for row in cells:
        summary.add_row(*row)
    console.print(summary)

    cols = long_columns(rows)
    names = {"evaluator": "judged by", "baseline": "vs", "n_prompts": "n", "win_rate": "win %", "ci_low": "CI low",
             "ci_high": "CI high", "std_error": "SE", "mean_reward": "reward",
             "kl_to_sft": "KL→sft (≈ sampled±SE, ≤ bound)", "seed_spread": "± seeds",
             "exact_reward": "exact r*", "kl_to_target": "KL→π*", "consistency": "consist. %",
             "first_position_rate": "1st-pos %", "n_parse_failures": "unparsed"}
    table = Table(title="all rows", title_justify="left")
    for c in cols:
        table.add_column(names.get(c, c), style="bold" if c == "method" else None, no_wrap=True,
                         justify="left" if c in ("task", "run", "method", "evaluator", "baseline") else "right")
    for r in rows:
        table.add_row(*[fmt_cell(c, r.get(c), r) for c in cols])
    console.print(table)


def build_leaderboard(dirs, alpaca_eval_files, out_csv, seed: int = 0, n_bootstrap: int = 2000, force: bool = False,
                      lc_weights=None, arena_hard_files=(), arena_hard_baseline: str | None = None,
                      mt_bench_files=(), mt_bench_baseline: str | None = None) -> list[dict]:
    """Rows of run/judge directories (``run`` = the directory's name) and alpaca_eval files (imported together:
    see :func:`rows_from_annotation_files`; ``lc_weights``: a directory holding alpaca_eval's ``df_gamed.csv``),
    written as one leaderboard."""
    if lc_weights is not None and not alpaca_eval_files:
        raise AlignbenchError("--lc-weights applies to --alpaca-eval annotation files; none given")
    if not force:
        guard_overwrite(Path(out_csv))  # before any work
    rows: list[dict] = []
    for d in dirs:
        rows.extend(with_run(read_rows(d), Path(d).resolve().name))
    comparisons: list = []  # the imports' per-prompt results, kept beside the CSV
    if alpaca_eval_files:
        for r in rows_from_annotation_files(alpaca_eval_files, seed=seed, n_bootstrap=n_bootstrap,
                                            lc_weights=lc_weights, comparisons=comparisons):
            rows.append(with_run([r], Path(r["run_id"]).stem)[0])
    if arena_hard_files:
        rows.extend(with_run(rows_from_arena_hard(arena_hard_files, seed, n_bootstrap, arena_hard_baseline,
                                                  comparisons=comparisons)))
    if mt_bench_files:
        rows.extend(with_run(rows_from_mt_bench(mt_bench_files, seed, n_bootstrap, mt_bench_baseline,
                                                comparisons=comparisons)))
    if comparisons:
        save_comparisons(Path(out_csv).with_suffix(".comparisons.jsonl"), comparisons)
    rows = sort_rows(with_run(rows))
    write_leaderboard(rows, out_csv, force=True)
    return rows
