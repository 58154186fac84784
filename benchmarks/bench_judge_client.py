"""LLM-judge client throughput against a local OpenAI-compatible server with 100 ms latency:
alignbench's concurrent client at its default concurrency vs the ideal (concurrency ÷ latency)
and vs a sequential loop over the plain ``openai`` client.

Last line: ``judge_client ratio=R`` with R = achieved ÷ ideal judgments per second.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import openai

from alignbench.evaluation.judge_config import JudgeConfig, load_judge
from alignbench.evaluation.llm_judge import build_requests, judge_requests
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer
from alignbench.evaluation.outputs import OutputRecord
from alignbench.evaluation.store import JudgmentStore

REPO = Path(__file__).resolve().parents[1]


def serve(queue, latency, stop):
    """The judge server in its own process: a remote judge does not share the client's GIL."""
    with JudgeServer(ScriptedJudge(prefer_longer), latency_s=latency, deadline_s=600) as srv:
        queue.put(srv.base_url)
        stop.wait(600)
        queue.put(srv.max_in_flight)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    n = 40 if a.tiny else 400
    latency = 0.1
    concurrency = JudgeConfig.model_fields["max_concurrency"].default
    pairs = [
        (OutputRecord(str(i), f"p{i}", "a" * (i % 7 + 1), "m"), OutputRecord(str(i), f"p{i}", "bbbb", "r"))
        for i in range(n)
    ]
    queue, stop = mp.Queue(), mp.Event()
    proc = mp.Process(target=serve, args=(queue, latency, stop), daemon=True)
    proc.start()
    base_url = queue.get(timeout=60)
    with tempfile.TemporaryDirectory() as tmp:
        judge = load_judge(str(REPO / "judges" / "local-scripted.yaml"), base_url=base_url)
        judge = judge.model_copy(update={"max_concurrency": concurrency})
        reqs = build_requests(pairs, judge, "m", "r")
        t0 = time.perf_counter()
        info = judge_requests(reqs, judge, JudgmentStore(Path(tmp) / "j.jsonl"))
        ours = len(reqs) / (time.perf_counter() - t0)
        client = openai.OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
        m = min(len(reqs), 40)
        t0 = time.perf_counter()
        for r in reqs[:m]:
            client.chat.completions.create(model=judge.model,
                                           messages=[{"role": "user",
                                                      "content": judge.render(r.prompt, r.output_a, r.output_b)}],
                                           temperature=0.0, max_tokens=judge.max_tokens)
        seq = m / (time.perf_counter() - t0)
    stop.set()
    max_in_flight = queue.get(timeout=30)
    proc.join(10)
    ideal = concurrency / latency
    print(f"{len(reqs)} judgments, latency {latency * 1000:.0f} ms, concurrency {concurrency} (max in "
          f"flight seen {max_in_flight}), {info.judged} recorded")
    print(f"alignbench: {ours:.1f} judgments/s; ideal {ideal:.1f}/s; sequential openai loop "
          f"{seq:.1f}/s (×{ours / seq:.1f})")
    print(f"judge_client ratio={ours / ideal:.3f}")


if __name__ == "__main__":
    main()
