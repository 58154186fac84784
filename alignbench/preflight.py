"""Checks of a whole run before its first training step: every judge YAML loads, its key is set,
and its endpoint answers one cheap authenticated request; every file the run will publish may be
written; then the run directory is locked."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from .config import Config, task_name
from .dirlock import exclusive_dir
from .errors import AlignbenchError
from .evaluation.judge_config import load_judge, url_secrets
from .owned import check_replaceable, run_files
from .secrets import redact

PING_PROMPT = "Reply with the single word OK."
LEADERBOARD_REMEDY = "move it, or choose another --leaderboard-dir"


@contextlib.contextmanager
def prepared_run(cfg: Config, run_dir: Path | None, extra_judges=(), leaderboard_dir: Path | None = None):
    """Validate every judge of the run and the files it will publish, then hold the run directory for the run's
    duration."""
    check_replaceable(run_files(Path(leaderboard_dir or cfg.leaderboard_dir), task_name(cfg)), LEADERBOARD_REMEDY)
    for spec in cfg.evaluation.evaluators:
        prefix, _, argument = spec.partition(":")
        if prefix == "rm" and not (Path(argument) / "reward_model.json").is_file():
            raise AlignbenchError(f"setting 'evaluation.evaluators': {spec}: {argument or '(no path)'} is not a saved "
                                  "reward model (no reward_model.json)")
    for name in dict.fromkeys([*cfg.evaluation.judges, *extra_judges]):
        check_judge(name)
    with exclusive_dir(Path(run_dir) if run_dir else Path(cfg.runs_dir) / cfg.name, "run directory"):
        yield


def check_judge(name: str) -> None:
    judge = load_judge(name)
    key = judge.api_key()
    try:
        asyncio.run(_ping(judge, key))
    except AlignbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of the one request is reported in one line
        text = redact(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", key,
                      *url_secrets(judge.base_url))[:300]
        raise AlignbenchError(f"judge {judge.name} ({judge.identity()}): a test request "
                              f"failed before any training: {text}") from None


async def _ping(judge, key: str) -> None:
    import openai  # lazy, as in llm_judge: only a run with a judge needs it (~20 MB and 0.6 s)

    client = openai.AsyncOpenAI(base_url=judge.base_url, api_key=key, timeout=judge.timeout, max_retries=0)
    try:
        await asyncio.wait_for(client.chat.completions.create(
            model=judge.model, messages=[{"role": "user", "content": PING_PROMPT}], max_tokens=1, temperature=0.0,
        ), judge.timeout)
    except asyncio.TimeoutError:
        raise AlignbenchError(f"judge {judge.name} ({judge.identity()}): no answer to a test request within "
                              f"{judge.timeout:g}s (setting 'timeout')") from None
    except (openai.RateLimitError, openai.InternalServerError):
        pass  # reachable and busy: the judging itself retries these
    finally:
        await client.close()
