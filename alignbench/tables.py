"""Leaderboard rows as cells, tables and plots (Markdown, the summary, win-rate and frontier PNGs), and
leaderboards read back from CSV or rows.json: what the file writers (:mod:`.leaderboard`) and the HTML page
(:mod:`.report_html`) both use."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from .errors import AlignbenchError
from .evaluation.schema import ALL_COLUMNS, make_row
from .frontier import method_curves
from .io import atomic_write_bytes
from .names import from_csv_cell, md_cell, plot_text
from .owned import PNG_SOFTWARE
from .safe_yaml import load_json_file


# Columns shown (rounded) in the long Markdown / screen table; LLM-judge columns only where a row has them.
LONG_COLUMNS = ["method", "evaluator", "baseline", "n_prompts", "win_rate", "ci_low", "ci_high", "std_error",
                "mean_reward", "kl_to_sft"]
OPTIONAL_COLUMNS = ["seed_spread", "exact_reward", "kl_to_target", "reward_regret", "lc_win_rate", "lc_method",
                    "arena_hard_score", "arena_hard_ci_low", "arena_hard_ci_high", "mean_score", "mean_score_turn_1",
                    "mean_score_turn_2", "consistency", "first_position_rate", "one_order_win_rate", "n_parse_failures"]
THREE_DIGITS = {"mean_reward", "kl_to_sft", "exact_reward", "kl_to_target", "kl_to_own_target", "reward_regret"}


def kl_cell(r: dict, digits: int) -> str:
    """KL(π‖π_sft) as printed: plain when exact, "≈v±se" when a sampled estimate (± 1 SE), "≤v" when a bound."""
    value, kind = r.get("kl_to_sft"), r.get("kl_kind")
    if is_missing(value):
        return ""
    if kind == "sampled":
        se = r.get("kl_to_sft_se")
        return f"≈{value:.{digits}f}" + ("" if is_missing(se) else f"±{se:.{digits}f}")
    if kind == "upper-bound":
        return f"≤{value:.{digits}f}"
    return f"{value:.{digits}f}"


def is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def run_name(row: dict) -> str:
    """A short name for the run a row came from: its ``run``, else its run_id without the time stamp."""
    if not is_missing(row.get("run")):
        return str(row["run"])
    rid = str(row.get("run_id") or "")
    head, _, tail = rid.rpartition("-")
    return head if tail.isdigit() and head else (Path(rid).name or "run")


def with_run(rows: list[dict], run: str | None = None) -> list[dict]:
    return [{**r, "run": run if run is not None and is_missing(r.get("run")) else run_name(r)} for r in rows]


def sort_rows(rows: list[dict]) -> list[dict]:
    """Groups (task, run, evaluator, baseline) in first-seen order; within a group, highest win rate first."""
    order: dict[tuple, int] = {}
    for r in rows:
        order.setdefault(_group(r), len(order))
    return sorted(rows, key=lambda r: (order[_group(r)], -_num(r.get("win_rate")), str(r["method"])))


def _group(r: dict) -> tuple:
    return (r.get("task"), r.get("run"), r.get("evaluator"), r.get("baseline"))


def _num(v) -> float:
    return float("-inf") if is_missing(v) else float(v)


def title_for(rows: list[dict]) -> str:
    """Names what is in the table: the task(s) and, when several runs are combined, the runs."""
    tasks = list(dict.fromkeys(str(r.get("task")) for r in rows))
    runs = list(dict.fromkeys(run_name(r) for r in rows))
    title = " + ".join(tasks)
    if len(runs) > 1:
        title += f" (combined runs: {', '.join(runs)})"
    return title


def leaderboard_frame(rows: list[dict]):
    return pd.DataFrame(with_run(rows)).reindex(columns=ALL_COLUMNS)  # the one schema, every column, in its order


def _fmt(v, digits=1):
    if is_missing(v):
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def fmt_cell(column: str, v, row: dict | None = None) -> str:
    if column == "kl_to_sft" and row is not None:
        return kl_cell(row, 3)
    if column in ("n_parse_failures", "n_prompts", "wins", "ties", "losses") and not is_missing(v):
        return str(int(v))
    return _fmt(v, 3 if column in THREE_DIGITS else 1)


def _records(df_or_rows) -> list[dict]:
    if isinstance(df_or_rows, list):
        return df_or_rows
    return [{k: (None if is_missing(v) else v) for k, v in r.items()} for r in df_or_rows.to_dict("records")]


def long_columns(rows: list[dict]) -> list[str]:
    """The long table's columns: task and run where several are combined, optional ones where any row has them."""
    cols = list(LONG_COLUMNS)
    for key in ("run", "task"):
        if len({str(r.get(key)) for r in rows}) > 1:
            cols.insert(0, key)
    llm = any(str(r.get("evaluator", "")).startswith("llm:") for r in rows)
    for c in OPTIONAL_COLUMNS:
        if c == "n_parse_failures" and not llm:
            continue
        if c == "seed_spread" and not any(_num(r.get("n_seeds")) > 1 for r in rows):
            continue  # one seed: the spread is 0 by construction
        if any(not is_missing(r.get(c)) for r in rows):
            cols.append(c)
    return cols


def summary_table(rows: list[dict]) -> tuple[list[str], list[list[str]], list[list[float | None]]]:
    """One row per method (per task and run when combined), one column per evaluator × baseline:
    'win rate [ci_low, ci_high]'. Returns header, formatted cells and the numbers behind them (for sorting)."""
    keys = []
    for key in ("task", "run"):
        if len({str(r.get(key)) for r in rows}) > 1:
            keys.append(key)
    keys.append("method")
    panels = list(dict.fromkeys(panel_label(r) for r in rows))
    table: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        table.setdefault(tuple(str(r.get(k)) for k in keys), {})[panel_label(r)] = r
    first = panels[0]
    ordered = sorted(table.items(), key=lambda kv: -_num(kv[1].get(first, {}).get("win_rate")))
    header = keys + [f"win % {p}" for p in panels]
    cells, numbers = [], []
    for key, by_panel in ordered:
        row_cells, row_numbers = list(key), list(key)
        for p in panels:
            r = by_panel.get(p)
            if r is None or is_missing(r.get("win_rate")):
                row_cells.append("")
                row_numbers.append(None)
            else:
                row_cells.append(f"{r['win_rate']:.1f} [{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]")
                row_numbers.append(float(r["win_rate"]))
        cells.append(row_cells)
        numbers.append(row_numbers)
    return header, cells, numbers


def panel_label(r: dict) -> str:
    return f"{r.get('evaluator')} vs {r.get('baseline')}"


def _md_table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(map(md_cell, header)) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(map(md_cell, row)) + " |" for row in body]


LC_METHOD_WORDS = {
    "alpaca_eval": "alpaca_eval's own length_controlled_v1, with its instruction-difficulty and "
                   "gamed-baseline file (df_gamed.csv): alpaca_eval's number",
    "estimated": "alpaca_eval's GLM with the instruction difficulty estimated jointly "
                 "from the models imported together (alpaca_eval's table not given; not "
                 "alpaca_eval's number, close to it)",
    "length-only": "a length-only GLM, no instruction difficulty (one model alone; not alpaca_eval's number)",
}


def notes(rows: list[dict]) -> list[str]:
    """Sentences saying what the rows' benchmark-named numbers are (Markdown and HTML print them)."""
    out = []
    for method, words in LC_METHOD_WORDS.items():
        names = sorted({str(r["method"]) for r in rows if r.get("lc_method") == method})
        if names:
            out.append(f"lc_win_rate of {', '.join(names[:6])}{' and others' if len(names) > 6 else ''}: {words}.")
    if any(not is_missing(r.get("arena_hard_score")) for r in rows):
        out.append("arena_hard_score: Arena-Hard-Auto's own score as its show_result.py (v0.1) "
                   "computes it (Bradley–Terry win rate against the baseline, strong verdicts ×3), with its bootstrap "
                   "interval over battles; win_rate beside it is alignbench's per-question "
                   "win rate of the same two games.")
    evaluators = {str(r.get("evaluator")) for r in rows}
    if any(e.startswith("mt-bench-single:") for e in evaluators):
        out.append("mt-bench-single rows: mean_score and the per-turn means are FastChat "
                   "show_result.py's (ratings of −1 left out, counted in n_parse_failures).")
    if any(e.startswith("mt-bench-pair:") for e in evaluators):
        out.append("mt-bench-pair rows: win_rate is FastChat show_result.py's win_rate_adjusted "
                   "(a tie where game 1 says tie or the games disagree).")
    return out


def to_markdown(df, title: str | None = None) -> str:
    rows = sort_rows(with_run(_records(df)))
    title = title or title_for(rows)
    header, cells, _ = summary_table(rows)
    cols = long_columns(rows)
    long = [[fmt_cell(c, r.get(c), r) for c in cols] for r in rows]
    return (
        f"# Leaderboard: {title}\n\nWin rates in percent with 95% bootstrap intervals over prompts; "
        "KL→sft: plain = exact, ≈v±se = Monte Carlo estimate from the method's "
        "samples ± 1 SE, ≤v = an upper bound; columns are described "
        "in leaderboards/README.md.\n\n"
        + "".join(f"{n}\n\n" for n in notes(rows))
        + "## Summary\n\n"
        + "\n".join(_md_table(header, cells))
        + "\n\n## All rows\n\nSorted by win rate within "
        "each evaluator × baseline.\n\n" + "\n".join(_md_table(cols, long)) + "\n"
    )


def _fig_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight", metadata={"Software": PNG_SOFTWARE})
    return buf.getvalue()


def win_rate_panels(rows: list[dict]) -> dict[str, list[dict]]:
    """Panel title → its rows: one panel per evaluator × baseline, split further by task and by judge
    (reward model) when the rows combine several, each named in the title."""
    rows = with_run(rows)
    split_task = len({str(r.get("task")) for r in rows}) > 1
    judges_per_evaluator: dict[str, set] = {}
    for r in rows:
        judges_per_evaluator.setdefault(str(r.get("evaluator")), set()).add(str(r.get("judge")))
    split_judge = any(len(j) > 1 for j in judges_per_evaluator.values())
    panels: dict[str, list[dict]] = {}
    for r in rows:
        if is_missing(r.get("win_rate")):
            continue
        title = f"{r.get('evaluator')} vs {r.get('baseline')}"
        if split_task:
            title = f"{r.get('task')}: {title}"
        if split_judge:
            title += f"\n{r.get('judge')}"
        panels.setdefault(title, []).append(r)
    return panels


def win_rate_png(rows: list[dict]) -> bytes:
    """Win rate with CI whiskers per method, one panel per evaluator × baseline (and per task and
    per judge/reward model when rows of several are combined, each named in the panel title)."""
    panels = win_rate_panels(rows)
    split_run = len({r["run"] for rs in panels.values() for r in rs}) > 1
    n = max(1, len(panels))
    cols = min(n, 2)
    nrows = math.ceil(n / cols)
    height = 0.35 * max((len(v) for v in panels.values()), default=1) + 1.5
    # Constrained layout keeps each panel's method names clear of its left neighbour.
    fig = Figure(figsize=(5.0 * cols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False)
    flat = [ax for line in axes for ax in line]
    for ax, (title, rs) in zip(flat, panels.items()):
        rs = sorted(rs, key=lambda r: r["win_rate"])
        y = list(range(len(rs)))
        wr = [r["win_rate"] for r in rs]
        lo = [max(0.0, r["win_rate"] - _num(r.get("ci_low"))) if not is_missing(r.get("ci_low")) else 0.0 for r in rs]
        hi = [max(0.0, _num(r.get("ci_high")) - r["win_rate"]) if not is_missing(r.get("ci_high")) else 0.0 for r in rs]
        ax.errorbar(wr, y, xerr=[lo, hi], fmt="o", capsize=3)
        ax.axvline(50, color="grey", lw=0.8, ls="--")
        ax.set_yticks(y, [plot_text(f"{r['method']} ({r['run']})" if split_run else r["method"]) for r in rs])
        ax.set_xlabel("win rate (%)")
        ax.set_title(plot_text(title), fontsize=9)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    return _fig_bytes(fig)


def frontier_png(rows: list[dict], reward_key: str = "exact_reward", optimal=None) -> bytes | None:
    """KL to SFT (x) against reward (y), one point per method (and per β where rows carry one).

    One panel per task and reward model: points scored by different reward models never share an
    axis. None when no row has both a KL and a reward."""
    rows = with_run(rows)
    panels: dict[tuple, dict] = {}
    for r in rows:
        use_exact = reward_key == "exact_reward" and not is_missing(r.get("exact_reward"))
        y = r.get("exact_reward") if use_exact else r.get("mean_reward")
        if is_missing(r.get("kl_to_sft")) or is_missing(y):
            continue
        scale = "exact expected true reward" if use_exact else f"mean reward of samples, scored by {r.get('judge')}"
        panel = panels.setdefault((str(r.get("task")), scale), {})
        label = str(r["method"]) if len({x["run"] for x in rows}) == 1 else f"{r['method']} ({r['run']})"
        panel[label] = (float(r["kl_to_sft"]), float(y))
    if not panels:
        return None
    n = len(panels)
    fig = Figure(figsize=(7.5 * n, 4.5), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)
    markers = "osD^vP*Xh<>p"
    for ax, ((task, scale), pts) in zip(axes[0], panels.items()):
        if optimal is not None and not scale.startswith("mean reward"):
            ax.plot(optimal.kl, optimal.reward, color="black", lw=1.2, label="optimal π*_β (exact)", zorder=1)
        # A legend rather than labels at the points: methods that reach the same target sit on top of each other.
        # A β-swept method (labels ``name@β=b``) is one line through its β values.
        for i, (name, curve) in enumerate(method_curves(pts).items()):
            xs, ys = [c[1] for c in curve], [c[2] for c in curve]
            swept = len(curve) > 1 or curve[0][0] is not None
            ax.plot(
                xs,
                ys,
                marker=markers[i % len(markers)],
                ms=6,
                ls="-" if swept else "none",
                alpha=0.85,
                label=plot_text(name) + (" (swept: " + ", ".join(f"{c[0]:g}" for c in curve) + ")" if swept else ""),
            )
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        ax.set_xlabel("KL(π ‖ π_sft) (nats)")
        if scale.startswith("mean reward"):
            ax.set_ylabel("mean reward (sampled)")
            ax.set_title(plot_text(f"KL–reward frontier: {task}\n{scale}"), fontsize=10)
        else:
            ax.set_ylabel(plot_text(scale))
            ax.set_title(plot_text(f"KL–reward frontier: {task}"), fontsize=10)
    return _fig_bytes(fig)


def plot_frontier(rows: list[dict], path: str | Path, reward_key: str = "exact_reward", optimal=None) -> None:
    """``optimal`` (an :class:`alignbench.frontier.Frontier`) is drawn as the exact optimal curve."""
    data = frontier_png(rows, reward_key, optimal)
    if data is not None:
        atomic_write_bytes(Path(path), data)


def read_rows(directory: Path) -> list[dict]:
    path = Path(directory) / "rows.json"
    if not path.exists():
        raise AlignbenchError(f"{directory}: no rows.json (not a judged run or judge directory)")
    return checked_rows(load_json_file(path, "rows.json"), path)


def checked_rows(rows, path) -> list[dict]:
    """A rows file's rows, each a mapping with the schema's columns and types (one-line error naming the row)."""
    if not isinstance(rows, list):
        raise AlignbenchError(f"{path}: expected a list of rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise AlignbenchError(f"{path}: row {i + 1}: expected a mapping of columns, got {type(row).__name__}")
        make_row(f"{path}: row {i + 1}", **{str(k): v for k, v in row.items()})
    return rows


def load_leaderboard(path: str | Path):
    """A leaderboard as a pandas DataFrame: a leaderboard CSV, a rows.json, or a run/judge directory holding one."""
    path = Path(path)
    if path.is_dir():
        return leaderboard_frame(read_rows(path))
    if not path.exists():
        raise AlignbenchError(f"{path}: file not found")
    if path.suffix == ".json":
        return leaderboard_frame(checked_rows(load_json_file(path, "rows file"), path))
    try:
        df = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as e:
        raise AlignbenchError(f"{path}: not a leaderboard CSV ({' '.join(str(e).split())[:120]})") from None
    missing = [c for c in ("task", "method", "evaluator", "baseline", "win_rate") if c not in df.columns]
    if missing:
        raise AlignbenchError(f"{path}: not a leaderboard CSV (missing column(s) {', '.join(missing)})")
    return df.map(from_csv_cell)


def rows_from_frame(df) -> list[dict]:
    """DataFrame rows as dicts with NaN turned back into None."""
    return _records(df)
