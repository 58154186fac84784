"""Judge-only re-evaluation: judge existing outputs files, no training."""

from __future__ import annotations

import sys
from pathlib import Path

from ..dirlock import exclusive_dir
from ..errors import AlignbenchError
from ..io import atomic_write_json
from ..progress import progress_bar
from ..stats import MAX_SEED
from .evaluate import RowContext, StatisticsSettings, evaluate, save_comparisons
from .evaluators import EvaluatorSources, build_evaluator
from .outputs import align_outputs, load_outputs


def _generator_name(records, path) -> str:
    names = {r.generator for r in records}
    if len(names) != 1:
        raise AlignbenchError(f"{path}: expected one generator per outputs file, found {len(names)} "
                              f"({', '.join(sorted(names)[:3])}…)")
    return names.pop()


def judge_outputs(outputs: list[Path], reference: Path, judge: str, out_dir: Path, task: str = "custom", seed: int = 0,
                  n_bootstrap: int = 2000, quiet: bool = False, base_url: str | None = None,
                  allow_missing: int = 0) -> list[dict]:
    check_seed_and_bootstrap(seed, n_bootstrap)
    if allow_missing < 0:
        raise AlignbenchError(f"--allow-missing must be 0 or more, got {allow_missing}")
    # Method files first, in the order given, so the first bad file named is the first one the user passed.
    method_records = [(path, load_outputs(path)) for path in outputs]
    ref = load_outputs(reference)
    baseline = _generator_name(ref, reference)
    for path, recs in method_records + [(reference, ref)]:
        if any(r.extra.get("question_text_missing") for r in recs):
            print(f"alignbench: {path}: no ../question.jsonl beside these MT-Bench / "
                  "Arena-Hard answers; the judge sees 'MT-Bench question N' / 'Arena-Hard question "
                  "N' instead of the question text", file=sys.stderr)
    outputs, named = {}, {}
    for path, recs in method_records:
        name = _generator_name(recs, path)
        if name == baseline:
            raise AlignbenchError(f"{path}: generator {name!r} is also the generator of the reference {reference}; "
                                  "a generator is not judged against itself (give the "
                                  "reference its own generator name)")
        if name in named:
            raise AlignbenchError(f"{path}: generator {name!r} is also the generator of {named[name]}; "
                                  "each outputs file needs its own generator name")
        named[name] = str(path)
        outputs[name] = {seed: recs}
        align_outputs(recs, ref, str(path), str(reference))  # every file's prompts checked before anything is judged
    named[baseline] = str(reference)
    out_dir = Path(out_dir)
    with exclusive_dir(out_dir, "--out directory"):
        sources = EvaluatorSources(judgments_file=lambda _: out_dir / "judgments.jsonl", base_url=base_url,
                                   notify=(lambda msg: None) if quiet else EvaluatorSources().notify)
        evaluator = build_evaluator(judge, sources)
        context = RowContext(task=task, run_id=str(out_dir), seeds=str(seed))
        with progress_bar(quiet) as progress:
            rows, comparisons = evaluate(outputs, {baseline: {seed: ref}}, [evaluator],
                                         StatisticsSettings(n_bootstrap, seed), context, progress, named)
        rows = [r.as_dict() for r in rows]
        save_comparisons(out_dir / "comparisons.jsonl", comparisons)
        atomic_write_json(out_dir / "rows.json", rows)
        check_missing(sum(c.n_request_failures or 0 for c in comparisons), allow_missing,
                      out_dir / "judgments.failures.jsonl")
        return rows


def check_missing(missing: int, allowed: int, failures_path: Path) -> None:
    """A run that ends with judgments missing says so and fails, unless the user allowed that many."""
    if missing > allowed:
        raise AlignbenchError(
            f"{missing} judgment(s) missing after retries (more than --allow-missing "
            f"{allowed}); the prompts are listed in {failures_path}; re-run the same command to judge only those, or "
            f"pass --allow-missing {missing}")


def check_seed_and_bootstrap(seed: int, n_bootstrap: int) -> None:
    """Checked before any judging, so a typo costs nothing."""
    if not 0 <= seed <= MAX_SEED:
        raise AlignbenchError(f"--seed must be in [0, {MAX_SEED}], got {seed}")
    if not 100 <= n_bootstrap <= 1_000_000:
        raise AlignbenchError(f"--bootstrap must be 100 to 1,000,000 resamples, got {n_bootstrap}")
