"""The command line: the only place that parses arguments and prints tables."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .errors import AlignbenchError
from .evaluation.local_server import SERVE_DESCRIPTION, add_serve_arguments, serve_command  # stdlib only: ~30 ms
from .lifetime import watch_parent
from .secrets import redact
from .version import __version__

# Each _cmd_* imports what its command needs: all of it at the top (torch, transformers, pandas,
# matplotlib, pydantic) would take `alignbench --help` and input errors from ~0.05 s to ~2.3 s.


JUDGE_FORMATS = """input formats (detected from the content):
  alignbench JSONL         one object a line: {"prompt_id", "prompt", "output", "generator"[, "seed"]}
  alpaca_eval JSON         model_outputs.json: a JSON list of {"instruction", "output", "generator"[, "dataset"]};
                           (or the same records one per line); joined on the instruction text (alpaca_eval has no ids)
  FastChat MT-Bench JSONL  model_answer/MODEL.jsonl: {"question_id", "model_id", "choices": [{"turns": [...]}]};
                           question texts come from ../question.jsonl when it exists; turns are joined
  Arena-Hard JSONL         model_answer/MODEL.jsonl: {"uid", "model", "messages"} or v0.1's
                           {"question_id", "model_id", "choices": [{"turns": [{"content"}]}]}"""


def _sub(sub, name: str, help: str, example: str, description: str | None = None):
    return sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:] + ".",
                          epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alignbench",
        description="Train alignment methods side by side and judge them honestly. "
                    "Progress and logs go to stderr, result tables to stdout.",
        epilog="examples:\n  alignbench run                      # the built-in quickstart on the oracle task\n"
               "  alignbench judge --help             # judge existing outputs (alpaca_eval, MT-Bench, JSONL)\n"
               "  alignbench methods                  # methods and their hyper-parameters",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"alignbench {__version__}")
    sub = p.add_subparsers(dest="command",
                           metavar="{run,judge,leaderboard,report,serve-judge,status,methods,grid,grade,audit-judge}")

    run = _sub(sub, "run", "run a full method comparison (default: the built-in quickstart)",
               "alignbench run quickstart --set methods.dpo.steps=300 --set seeds=[0,1]")
    run.add_argument("config", nargs="?", default="quickstart",
                     help="YAML path or built-in config name (quickstart, oracle-sweep, hh-harmless)")
    run.add_argument("--judge", action="append", default=[],
                     help="also judge with this LLM judge (judges/NAME.yaml); repeatable")
    run.add_argument("--run-dir", type=Path, default=None,
                     help="run directory (default runs/<config-name>); holds run.log")
    run.add_argument("--leaderboard-dir", type=Path, default=None,
                     help="where to write <task>.csv/.md/.png/.html (default leaderboards/)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key, e.g. --set methods.dpo.steps=50")
    run.add_argument("--quiet", action="store_true", help="no progress bars, only the final table")
    run.add_argument("--allow-missing", type=int, default=0, metavar="N",
                     help="exit 0 even if up to N LLM-judge judgments are still missing after retries (default 0)")

    judge = sub.add_parser(
        "judge", help="judge-only re-evaluation of existing outputs (alignbench JSONL, alpaca_eval, MT-Bench)",
        description="Judge existing outputs against a reference, no training.\n\n" + JUDGE_FORMATS,
        epilog="examples:\n"
               "  alignbench serve-judge &   # a local scripted judge on 127.0.0.1:8765 for a dry run\n"
               "  alignbench judge --outputs model_outputs.json --reference gpt4_outputs.json --judge "
               "judges/local-scripted.yaml --out judged/\n  alignbench judge --outputs dpo.jsonl arm.jsonl --reference "
               "sft.jsonl --judge rm:runs/quickstart/reward_model --out judged-rm/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    judge.add_argument("--outputs", nargs="+", type=Path, required=True,
                       help="one outputs file per method (any format above)")
    judge.add_argument("--reference", type=Path, required=True,
                       help="the reference (baseline) outputs file (any format above)")
    judge.add_argument("--judge", required=True,
                       help="judges/NAME.yaml or a judge name in judges/ (pairwise, or mode: single = rated one by "
                            "one), or rm:PATH for a reward model")
    judge.add_argument("--out", type=Path, required=True, help="output directory (judgments.jsonl, rows.json)")
    judge.add_argument("--task", default="custom", help="task name written in the rows (default: custom)")
    judge.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    judge.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    judge.add_argument("--quiet", action="store_true", help="no progress bar, only the final table")
    judge.add_argument("--allow-missing", type=int, default=0, metavar="N",
                       help="exit 0 even if up to N judgments are still missing after retries (default 0: "
                            "any missing one fails the run)")

    lb = _sub(sub, "leaderboard", "aggregate judged directories or alpaca_eval annotations into a leaderboard",
              "alignbench leaderboard runs/quickstart judged/ --out leaderboards/combined.csv")
    lb.add_argument("dirs", nargs="*", type=Path, help="run or judge directories holding rows.json")
    lb.add_argument("--alpaca-eval", nargs="+", type=Path, default=[],
                    help="alpaca_eval annotations.json files, imported together (several models: their instruction "
                         "difficulty is estimated jointly for the length-controlled win rate)")
    lb.add_argument("--lc-weights", type=Path, default=None, metavar="DIR",
                    help="directory holding alpaca_eval's df_gamed.csv (its Hugging Face "
                         "dataset tatsu-lab/alpaca_eval): lc_win_rate is then "
                         "alpaca_eval's length_controlled_v1 exactly")
    lb.add_argument("--arena-hard", nargs="+", type=Path, default=[], metavar="FILE",
                    help="Arena-Hard-Auto judgment files (model_judgment/<judge>/<model>.jsonl), read together: "
                         "arena-hard's score as its show_result.py computes it")
    lb.add_argument("--arena-hard-baseline", default=None, metavar="MODEL",
                    help="the baseline of the Arena-Hard judgments (default: the records' 'baseline', else gpt-4-0314)")
    lb.add_argument("--mt-bench", nargs="+", type=Path, default=[], metavar="FILE",
                    help="FastChat MT-Bench judgment files (gpt-4_single.jsonl, gpt-4_pair.jsonl): what "
                         "FastChat's show_result.py reports")
    lb.add_argument("--mt-bench-baseline", default="gpt-3.5-turbo", metavar="MODEL",
                    help="pairwise MT-Bench judgments: the baseline (FastChat's default "
                         "gpt-3.5-turbo); 'none' for every pair")
    lb.add_argument("--out", type=Path, required=True,
                    help="leaderboard CSV path (.md, .png and .html written beside it)")
    lb.add_argument("--seed", type=int, default=0, help="bootstrap seed for alpaca_eval intervals (default 0)")
    lb.add_argument("--bootstrap", type=int, default=2000,
                    help="bootstrap resamples for alpaca_eval intervals (default 2000)")
    lb.add_argument("--quiet", action="store_true", help="write the files, print nothing")
    lb.add_argument("--force", action="store_true",
                    help="overwrite --out even if it is not a leaderboard alignbench wrote")

    report = _sub(sub, "report", "publish leaderboards as self-contained HTML pages (no network needed to view)",
                  "alignbench report leaderboards/oracle.csv leaderboards/hh-harmless.csv")
    report.add_argument("sources", nargs="+", type=Path, help="leaderboard CSVs, rows.json files or run directories")
    report.add_argument("--out", type=Path, default=None,
                        help="HTML path (one source only; default: <source>.html beside a CSV)")

    serve = _sub(sub, "serve-judge",
                 "serve a scripted OpenAI-compatible judge on 127.0.0.1 for dry runs (no key needed)",
                 "alignbench serve-judge --port 8765 --time-limit 600   # judges/local-scripted.yaml points here",
                 description=SERVE_DESCRIPTION)
    # the module's own entry point (python -m alignbench.evaluation.local_server) shares them
    add_serve_arguments(serve)

    status = _sub(sub, "status", "say which stages of a run are done, their times, and what remains",
                  "alignbench status runs/quickstart")
    status.add_argument("run_dir", type=Path, help="a run directory (holds config.yaml and manifest.json)")

    methods = _sub(sub, "methods",
                   "list the registered alignment methods with their hyper-parameters: type, default and meaning",
                   "alignbench methods dpo")
    methods.add_argument("name", nargs="?", help="show only this method (default: all)")

    grade = _sub(sub, "grade", "single-answer grading (1–10) of FastChat MT-Bench answer files, every turn",
                 "alignbench grade --questions question.jsonl --answers model_answer/m.jsonl --judge "
                 "judges/gpt-4o-single.yaml --out graded/")
    grade.add_argument("--questions", type=Path, default=None,
                       help="FastChat question.jsonl {question_id, category, turns} (default with "
                            "--mt-bench-data: its mt_bench/question.jsonl)")
    grade.add_argument("--mt-bench-data", default=None, metavar="DIR",
                       help="follow MT-Bench's protocol: FastChat's data directory "
                            "(judge_prompts.jsonl, mt_bench/question.jsonl, mt_bench/reference_answer/gpt-4.jsonl), or "
                            "'fschat' for the installed package's; the judge YAML then "
                            "gives only the model and endpoint")
    grade.add_argument("--answers", nargs="+", type=Path, required=True,
                       help="FastChat model_answer/MODEL.jsonl {question_id, model_id, "
                            "choices: [{turns}]}, one per model")
    grade.add_argument("--judge", required=True, help="a judge YAML with mode: single (e.g. judges/gpt-4o-single.yaml)")
    grade.add_argument("--out", type=Path, required=True, help="output directory (judgments.jsonl, rows.json)")
    grade.add_argument("--base-url", default=None, help="override the judge's base_url")
    grade.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    grade.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    grade.add_argument("--quiet", action="store_true", help="no progress bars")

    audit = _sub(sub, "audit-judge",
                 "how far to trust an LLM judge: agreement with human labels, position and length bias",
                 "alignbench audit-judge --judge judges/local-scripted.yaml --limit 200   # with "
                 "alignbench serve-judge running")
    audit.add_argument("--judge", required=True, help="judges/NAME.yaml or a judge name in judges/ (pairwise); "
                       "'simulated': the simulated annotator on the oracle task's "
                       "Bradley–Terry-labelled pairs, offline")
    audit.add_argument("--pairs", type=Path, default=None,
                       help="human-labelled pairs: HH-RLHF {chosen, rejected} or {prompt, chosen, rejected} JSONL "
                            "(default: the shipped HH-RLHF harmless test pairs)")
    audit.add_argument("--limit", type=int, default=None, help="judge only the first N pairs")
    audit.add_argument("--out", type=Path, default=None,
                       help="directory for judgments.jsonl and audit.json (default runs/audit-NAME)")
    audit.add_argument("--base-url", default=None, help="override the judge's base_url")
    audit.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    audit.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    audit.add_argument("--quiet", action="store_true", help="no progress bars")

    grid = _sub(sub, "grid", "expand methods x seeds x tasks x beta into independent runs",
                "alignbench grid grid.yaml --backend local --workers 2")
    grid.add_argument("config", help="grid YAML path or built-in config name")
    grid.add_argument("--backend", choices=["local", "ray"], default="local", help="where cells run (default local)")
    grid.add_argument("--workers", type=int, default=2,
                      help="cells run in parallel (default 2; on a Ray cluster its CPUs decide)")
    grid.add_argument("--address", help="with --backend ray: a running Ray cluster ('auto', or head-ip:6379), "
                                        "started with 'ray start --head'; without it Ray starts in this process")
    grid.add_argument("--out", type=Path, default=Path("runs/grid"), help="grid directory (default runs/grid)")
    grid.add_argument("--quiet", action="store_true", help="no progress bars, only the final table")
    return p


def _quiet_libraries() -> None:
    # Nothing is fetched at run time; keep transformers' own loading bars out of alignbench's output.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Environment rather than an import: importing transformers here cost every command ~250 MB and
    # seconds before its input was even read (the bound: bad input is refused within 1 GB and 10 s).
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:  # already imported (an embedding program, a test): the variables came too late
        from transformers.utils import logging as hf_logging  # lazy: only when transformers is already loaded

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _quiet_libraries()
    if args.command is None:
        _parser().print_help()
        return 0
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
        watch_parent()
    try:
        return _dispatch(args)
    except AlignbenchError as e:
        print(redact(f"alignbench: error: {e}"), file=sys.stderr)
        return 2
    except OSError as e:  # disk full, read-only or vanished output: the finished work is already on disk
        where = f"{e.filename}: " if e.filename else ""
        print(redact(f"alignbench: error: {where}{(e.strerror or str(e)).lower()}; finished work is kept, "
                     "fix the cause and re-run the same command to resume"), file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a library's own words for a full disk (torch, safetensors): one line too
        if not _DISK_FULL.search(str(e)):
            raise
        print(f"alignbench: error: cannot write ({' '.join(str(e).split())[:200]}); is the "
              "disk full? finished work is kept, free space and re-run the same command to resume", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alignbench: interrupted; finished stages are kept, re-run the same command to resume", file=sys.stderr)
        return 143 if _TERMINATED else 130


_TERMINATED = False
_DISK_FULL = re.compile(r"No space left on device|StorageFull|PytorchStreamWriter failed writing|"
                        r"file write failed|Disk quota exceeded")


def _on_sigterm(signum, frame):
    """SIGTERM ends the command as Ctrl-C does (the same cleanup and message), exit 143. Raised here rather
    than by way of SIGINT, which a process started with ``cmd &`` in a script inherits as ignored."""
    global _TERMINATED
    _TERMINATED = True
    raise KeyboardInterrupt


def _console():
    # Piped or logged output gets the whole table rather than columns cut to 80 characters.
    width = None if sys.stdout.isatty() else 160
    return Console(stderr=False, quiet=False, highlight=False, width=width)


def _dispatch(args) -> int:
    from .distributed import world_size  # no torch: a bad command still fails in a second

    if world_size() > 1 and args.command != "run":
        raise AlignbenchError(f"alignbench {args.command} under {world_size()} processes "
                              "would do the same work in each; only 'alignbench run' shards across processes "
                              "(accelerate launch -m alignbench run CONFIG)")
    if args.command == "methods":
        return _cmd_methods(args.name)
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "judge":
        return _cmd_judge(args)
    if args.command == "leaderboard":
        return _cmd_leaderboard(args)
    if args.command == "grid":
        return _cmd_grid(args)
    if args.command == "report":
        return _cmd_report(args)
    if args.command == "serve-judge":
        return serve_command(args)
    if args.command == "status":
        return _cmd_status(args)
    if args.command == "audit-judge":
        return _cmd_audit_judge(args)
    if args.command == "grade":
        return _cmd_grade(args)
    raise AlignbenchError(f"unknown command {args.command!r}")


def _cmd_methods(only: str | None = None) -> int:
    from .methods import registry

    methods = {only: registry.get_method(only)} if only else registry.all_methods(plugins=True)
    console = _console()
    console.print("registered methods: set a hyper-parameter under methods.<name> in a config, or "
                  "--set methods.<name>.<key>=VALUE\n")
    for name, cls in methods.items():
        heading = f"[bold]{name}[/bold] ({cls.kind}): {cls.description}"
        if not cls.Params.names():
            console.print(heading + "\n  no hyper-parameters\n")
            continue
        table = Table(title=heading, title_justify="left")
        table.add_column("hyper-parameter", style="bold", no_wrap=True)
        table.add_column("type", no_wrap=True)
        table.add_column("default", no_wrap=True)
        table.add_column("meaning")
        for field_name, type_name, default, help_text in cls.Params.describe():
            table.add_row(field_name, type_name, _yaml_scalar(default), help_text)
        console.print(table)
    return 0


def _yaml_scalar(value) -> str:
    """A default as it is written in a config: null, true/false, numbers and names as they are."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _cmd_run(args) -> int:
    from .config import load_config

    cfg = load_config(args.config, overrides=args.set)  # before importing torch: bad input is refused in a second
    from . import pipeline
    from .preflight import prepared_run

    from .distributed import is_main

    # Under accelerate launch rank 0 checks the judges and holds the run directory; every process trains.
    with prepared_run(cfg, args.run_dir, args.judge, args.leaderboard_dir) if is_main() else contextlib.nullcontext():
        rows = pipeline.run_comparison(
            cfg,
            run_dir=args.run_dir,
            leaderboard_dir=args.leaderboard_dir,
            extra_judges=args.judge,
            quiet=args.quiet,
            allow_missing=args.allow_missing,
        )
    if not is_main():
        return 0  # the table is rank 0's
    from . import leaderboard  # after the run: see pipeline.run_comparison on pandas and matplotlib

    leaderboard.print_table(rows, _console(), title=f"alignbench leaderboard — {cfg.task.name}")
    return 0


def _cmd_judge(args) -> int:
    from . import leaderboard
    from .evaluation.judge_only import judge_outputs

    rows = judge_outputs(
        outputs=args.outputs,
        reference=args.reference,
        judge=args.judge,
        out_dir=args.out,
        task=args.task,
        seed=args.seed,
        n_bootstrap=args.bootstrap,
        quiet=args.quiet,
        allow_missing=args.allow_missing,
    )
    leaderboard.print_table(rows, _console(), title=f"judged with {args.judge}")
    return 0


def _cmd_leaderboard(args) -> int:
    from . import leaderboard

    if not args.dirs and not args.alpaca_eval and not args.arena_hard and not args.mt_bench:
        raise AlignbenchError("leaderboard: give at least one directory, --alpaca-eval, "
                              "--arena-hard or --mt-bench FILE")
    rows = leaderboard.build_leaderboard(
        dirs=args.dirs,
        alpaca_eval_files=args.alpaca_eval,
        out_csv=args.out,
        seed=args.seed,
        n_bootstrap=args.bootstrap,
        force=args.force,
        lc_weights=args.lc_weights,
        arena_hard_files=args.arena_hard,
        arena_hard_baseline=args.arena_hard_baseline,
        mt_bench_files=args.mt_bench,
        mt_bench_baseline=None if args.mt_bench_baseline == "none" else args.mt_bench_baseline,
    )
    if not args.quiet:
        leaderboard.print_table(rows, _console(), title=leaderboard.title_for(rows))
        print(f"leaderboard: {args.out} (+ .md, .png, .html)", file=sys.stderr)
    return 0


def _cmd_report(args) -> int:
    from .report_html import html_from_leaderboard

    if args.out is not None and len(args.sources) > 1:
        raise AlignbenchError("report: --out takes one source; give one CSV or drop --out")
    for source in args.sources:
        print(html_from_leaderboard(source, args.out))
    return 0


def _cmd_status(args) -> int:
    from .rundir import run_status

    print(run_status(args.run_dir))
    return 0


def _cmd_grid(args) -> int:
    from . import grid, leaderboard

    rows = grid.run_grid(args.config, backend=args.backend, workers=args.workers, out_dir=args.out, quiet=args.quiet,
                         address=args.address)
    leaderboard.print_table(rows, _console(), title=f"grid {args.config}")
    return 0


def _cmd_audit_judge(args) -> int:
    from .evaluation.audit import audit_judge, audit_table_lines
    from .progress import progress_bar

    with progress_bar(args.quiet) as progress:
        result = audit_judge(args.judge, args.pairs, args.limit, args.out, args.bootstrap, args.seed, args.base_url,
                             progress)
    print("\n".join(audit_table_lines(result)))
    return 0


def _cmd_grade(args) -> int:
    from .evaluation.mtbench import grade_mtbench, grade_table_lines
    from .progress import progress_bar

    with progress_bar(args.quiet) as progress:
        rows = grade_mtbench(args.questions, args.answers, args.judge, args.out, args.bootstrap, args.seed,
                             args.base_url, progress, mt_bench_data=args.mt_bench_data)
    print("\n".join(grade_table_lines(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
