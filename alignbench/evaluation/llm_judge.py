"""LLM-judge win rates through any OpenAI-compatible chat endpoint (the ``openai`` client).

Every pair is judged in both orders, concurrently up to ``max_concurrency``, with retries and
backoff on rate limits (honouring Retry-After), server errors, time-outs and dropped connections.
A finished judgment is appended to ``judgments.jsonl`` at once; transport failures that outlast
the retries are reported (and retried on the next run), never turned into a verdict.
"""

from __future__ import annotations

import asyncio
import email.utils
import heapq
import itertools
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AlignbenchError
from ..io import append_jsonl
from ..progress import NullProgress
from ..secrets import redact
from .judge_config import BACKOFF_MAX, JudgeConfig, url_secrets
from .store import JudgmentStore, judgment_key
from .verdicts import parse_fastchat_rating, parse_rating, parse_verdict

BACKOFF_BASE = 0.5


@dataclass
class JudgeRequest:
    key: str
    prompt_id: str
    order: str  # "method-first" or "baseline-first"
    prompt: str
    output_a: str
    output_b: str
    generator_a: str
    generator_b: str
    method: str
    baseline: str
    text: str | None = None  # the whole judge prompt when rendered elsewhere (single-answer grading)
    system: str | None = None  # a system message before it (MT-Bench's judge prompts have one)


@dataclass
class JudgeRunInfo:
    requested: int = 0
    cached: int = 0
    judged: int = 0
    http_attempts: int = 0
    retries: int = 0
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def build_requests(pairs, judge: JudgeConfig, method: str, baseline: str) -> list[JudgeRequest]:
    if judge.mode != "pairwise":
        raise AlignbenchError(f"{judge.source}: setting 'mode': {judge.mode!r} judges grade single answers "
                              "(alignbench grade), they cannot compare pairs")
    reqs = []
    for m, r in pairs:
        orders = [("method-first", m.output, r.output, m.generator, r.generator)]
        if judge.both_orders:
            orders.append(("baseline-first", r.output, m.output, r.generator, m.generator))
        for order, a, b, ga, gb in orders:
            key = judgment_key(judge.model, judge.template_sha, judge.temperature, judge.seed, judge.max_tokens,
                               m.prompt, a, b)
            reqs.append(JudgeRequest(key, m.prompt_id, order, m.prompt, a, b, ga, gb, method, baseline))
    return reqs


def _retry_after(exc) -> float | None:
    resp = getattr(exc, "response", None)
    value = resp.headers.get("retry-after") if resp is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _classify(exc) -> str:
    """'retry' for transient faults, 'fatal' for requests that cannot succeed as sent."""
    import openai  # lazy: 0.6 s to import, and only a judgment that runs needs it (config loading imports this module)

    if isinstance(
        exc, (openai.RateLimitError, openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError)
    ):
        return "retry"
    if isinstance(exc, openai.APIStatusError):
        return "retry" if exc.status_code >= 500 or exc.status_code in (408, 409) else "fatal"
    if isinstance(
        exc, (openai.APIResponseValidationError, ValueError, KeyError, IndexError, TypeError, asyncio.TimeoutError)
    ):
        return "retry"  # malformed or truncated bodies
    return "fatal"


def _usage(resp: dict) -> dict:
    """Token counts the server reported (0 when it reports none)."""
    usage = resp.get("usage") or {}
    return {"prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0)}


def _redact(text: str, secrets) -> str:
    return redact(text, *secrets)


class _AttemptTimeout(Exception):
    pass


class _FairSlots:
    """``max_concurrency`` request slots. A retry takes the next free slot ahead of every request that has
    not started yet, so a transient error early in a big batch is retried at once rather than behind the
    whole queue (where its time budget used to run out)."""

    def __init__(self, n: int):
        self._free = n
        self._waiting: list = []  # heap of (0 for a retry / 1 for a first attempt, arrival, future)
        self._arrival = itertools.count()

    async def acquire(self, retry: bool) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (0 if retry else 1, next(self._arrival), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # handed a slot as it was cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiting:
            fut = heapq.heappop(self._waiting)[2]
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1


async def _judge_one(client, judge: JudgeConfig, req: JudgeRequest, slots: _FairSlots, info: JudgeRunInfo, secrets):
    """One judgment: attempts, each bounded as a whole by ``timeout`` (not per read), and all of them,
    waits between attempts included, by the judgment's budget (``total_timeout``). Time spent queued for a
    free slot is not the judgment's: it does not count against the budget."""
    last_err = None
    deadline = None
    budget = judge.judgment_budget
    for attempt in range(judge.max_retries + 1):
        queued = time.monotonic()
        await slots.acquire(retry=attempt > 0)
        try:
            now = time.monotonic()
            deadline = now + budget if deadline is None else deadline + (now - queued)
            limit = min(judge.timeout, deadline - now)
            if limit <= 0:
                return None, f"{last_err} (gave up after {attempt} attempt(s): {_spent(budget)})"
            info.http_attempts += 1
            wait = None
            try:
                # The chat-completions body posted as it is and the reply read as JSON: the same request and
                # errors as ``chat.completions.create``, without its typed-dict transform and reply model (~2 ms
                # of CPU per request, which serialises replies that arrive together).
                body = await _bounded(client.post("/chat/completions", cast_to=str, body={
                    "model": judge.model,
                    "messages": ([{"role": "system", "content": req.system or judge.system_text}]
                                 if req.system or judge.system_text else []) + [
                        {"role": "user", "content": req.text if req.text is not None else
                         judge.render(req.prompt, req.output_a, req.output_b)}],
                    "temperature": judge.temperature,
                    "max_tokens": judge.max_tokens,
                    "seed": judge.seed,
                }), limit)
                resp = json.loads(body)
                choice = resp["choices"][0]
                text = choice["message"].get("content")
                if text is not None and not isinstance(text, str):
                    raise TypeError("message content is not text")
                return {"raw": text or "", "finish_reason": choice.get("finish_reason"), "attempts": attempt + 1,
                        **_usage(resp)}, None
            except _AttemptTimeout:
                which = "timeout" if limit >= judge.timeout else "total_timeout"
                last_err = (f"TimeoutError: no complete answer within {limit:.3g}s (setting '{which}' bounds the whole "
                            f"{'request' if which == 'timeout' else 'judgment, retries included'})")
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed silently
                kind = _classify(exc)
                last_err = f"{type(exc).__name__}: {_redact(str(exc), secrets)[:300]}"
                if kind == "fatal":
                    return None, last_err
                wait = _retry_after(exc)
        finally:
            slots.release()
        info.retries += 1
        if attempt < judge.max_retries:
            backoff = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** attempt) * (0.5 + random.random())
            pause = min(BACKOFF_MAX, wait) if wait is not None else backoff
            if time.monotonic() + pause >= deadline:
                return None, f"{last_err} (gave up after {attempt + 1} attempt(s): {_spent(budget)})"
            await asyncio.sleep(pause)
    return None, f"{last_err} (gave up after {judge.max_retries + 1} attempts, setting 'max_retries')"


def _spent(budget: float) -> str:
    return f"the judgment's time budget of {budget:.3g}s (setting 'total_timeout') is spent"


async def _bounded(coro, seconds: float):
    try:
        return await asyncio.wait_for(coro, seconds)
    except asyncio.TimeoutError:
        raise _AttemptTimeout() from None


async def _run(requests: list[JudgeRequest], judge: JudgeConfig, store: JudgmentStore, info: JudgeRunInfo, progress,
               failures_path):
    import openai  # lazy: see _classify

    secret = judge.api_key()
    secrets = [secret, *url_secrets(judge.base_url)]
    client = openai.AsyncOpenAI(base_url=judge.base_url, api_key=secret, timeout=judge.timeout, max_retries=0)
    slots = _FairSlots(judge.max_concurrency)
    task = progress.add_task(f"judge {judge.name or judge.model}", total=len(requests))
    progress.update(task, completed=info.cached)
    # Group commit: finished judgments are appended (one write, one fsync) by a writer in a thread, so the event
    # loop never waits on the disk; each is on disk within one fsync of arriving, and what a killed run had not
    # written yet is judged again on resume.
    pending: list[dict] = []
    writer: list[asyncio.Task] = []

    async def write_pending():
        while pending:
            batch = pending[:]
            pending.clear()
            await asyncio.to_thread(store.append, batch)

    def commit():
        if writer and writer[-1].done() and writer[-1].exception() is not None:
            raise writer[-1].exception()  # a failed write (a full disk) stops the run
        if not writer or writer[-1].done():
            writer.append(asyncio.ensure_future(write_pending()))

    async def one(req: JudgeRequest):
        result, error = await _judge_one(client, judge, req, slots, info, secrets)
        if result is None:
            fail = {"key": req.key, "prompt_id": req.prompt_id, "order": req.order, "method": req.method,
                    "baseline": req.baseline, "error": error, "judge_model": judge.model, "time": time.time()}
            info.failures.append(fail)
            append_jsonl(failures_path, [fail])
        else:
            single = judge.mode == "single"
            rating = parse_fastchat_rating if judge.parser == "fastchat-rating" else parse_rating
            verdict = rating(result["raw"]) if single else parse_verdict(result["raw"], judge.parser)
            if verdict is None or single:
                winner = None
            elif verdict == "tie":
                winner = "tie"
            else:
                first_is_method = req.order == "method-first"
                winner = "method" if (verdict == "A") == first_is_method else "baseline"
            pending.append({
                "key": req.key, "prompt_id": req.prompt_id, "order": req.order, "generator_a": req.generator_a,
                "generator_b": req.generator_b, "method": req.method, "baseline": req.baseline, "verdict": verdict,
                "winner": winner, "raw": result["raw"], "finish_reason": result["finish_reason"],
                "attempts": result["attempts"], "judge_model": judge.model, "template_sha": judge.template_sha,
                "temperature": judge.temperature, "seed": judge.seed,
                "prompt_tokens": result["prompt_tokens"], "completion_tokens": result["completion_tokens"],
            })
            commit()
            info.judged += 1
            info.prompt_tokens += result["prompt_tokens"]
            info.completion_tokens += result["completion_tokens"]
        progress.advance(task)

    tasks = [asyncio.ensure_future(one(r)) for r in requests]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        # A write that fails (a full disk) stops the run: the other requests are cancelled, their outcomes
        # collected here (no "exception was never retrieved" tracebacks), and the first error is raised.
        for t in tasks:
            t.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        outcomes += await asyncio.gather(*writer, return_exceptions=True)
        if pending and not any(isinstance(o, BaseException) for o in outcomes[len(tasks):]):
            store.append(pending)
        await client.close()
        progress.remove_task(task)
    error = next((o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, asyncio.CancelledError)),
                 None)
    if error is not None:
        raise error


def judge_requests(requests: list[JudgeRequest], judge: JudgeConfig, store: JudgmentStore, progress=None,
                   failures_path: Path | None = None, known_failures: dict[str, dict] | None = None) -> JudgeRunInfo:
    """Judge every request whose key is not in ``store`` yet; returns counts and failures. A key in
    ``known_failures`` (failed after retries earlier in this run) is reported as that failure, not sent again."""
    info = JudgeRunInfo(requested=len(requests))
    seen, todo = set(), []
    for r in requests:
        if known_failures and r.key in known_failures and not store.has(r.key):
            info.failures.append(known_failures[r.key])
        elif store.has(r.key) or r.key in seen:
            info.cached += 1
        else:
            seen.add(r.key)
            todo.append(r)
    t0 = time.time()
    if todo:
        failures_path = failures_path or store.path.with_name(store.path.stem + ".failures.jsonl")
        asyncio.run(_run(todo, judge, store, info, progress or NullProgress(), failures_path))
    info.seconds = time.time() - t0
    return info


def outcomes(requests: list[JudgeRequest], store: JudgmentStore, prompt_ids: list[str]):
    """Per-prompt outcomes from the method's side for each order: (method-first, baseline-first)."""
    index = {pid: i for i, pid in enumerate(prompt_ids)}
    first = np.full(len(prompt_ids), np.nan)
    second = np.full(len(prompt_ids), np.nan)
    for r in requests:
        rec = store.get(r.key)
        verdict = rec.get("verdict") if rec else None
        if verdict is None:
            continue
        # The stored record may come from another request with the same content (e.g. identical
        # outputs in both orders), so read its verdict through *this* request's order.
        method_letter = "A" if r.order == "method-first" else "B"
        value = 0.5 if verdict == "tie" else (1.0 if verdict == method_letter else 0.0)
        (first if r.order == "method-first" else second)[index[r.prompt_id]] = value
    return first, second


def judge_pairs(pairs, judge: JudgeConfig, store: JudgmentStore, method: str, baseline: str, progress=None,
                known_failures: dict[str, dict] | None = None):
    """Judge aligned (method, reference) pairs; returns (first, second or None, JudgeRunInfo, requests)."""
    reqs = build_requests(pairs, judge, method, baseline)
    info = judge_requests(reqs, judge, store, progress, known_failures=known_failures)
    first, second = outcomes(reqs, store, [m.prompt_id for m, _ in pairs])
    return first, (second if judge.both_orders else None), info, reqs
