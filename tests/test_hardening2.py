"""Issue 28, hardening round two: no lost judgments, no path escapes, no injected cells, signals honoured."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import yaml

from alignbench.cli import main
from alignbench.evaluation import llm_judge
from alignbench.evaluation.judge_config import load_judge
from alignbench.evaluation.llm_judge import judge_pairs
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer
from alignbench.evaluation.outputs import OutputRecord, align_outputs, write_outputs
from alignbench.evaluation.store import JudgmentStore

REPO = Path(__file__).resolve().parents[1]


def judge_yaml(tmp_path, base_url, **over) -> Path:
    cfg = yaml.safe_load((REPO / "judges" / "local-scripted.yaml").read_text())
    cfg.update({"base_url": base_url, "template": str(REPO / "judges" / "templates" / "pairwise.txt"), **over})
    path = tmp_path / "judge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def outputs(n, generator, text=lambda i: "x"):
    return [OutputRecord(str(i), f"prompt {i}", text(i), generator) for i in range(n)]


def early_errors(n_errors: int = 4, always: str | None = None):
    """503 to the first ``n_errors`` requests and to every request whose prompt contains ``always``."""
    return lambda n, prompt: "server_error" if n <= n_errors or (always and always in prompt) else None


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(llm_judge, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(llm_judge, "BACKOFF_MAX", 0.2)


def _early_503(tmp_path, n_prompts):
    pairs = align_outputs(outputs(n_prompts, "method", lambda i: "m" * (5 + i % 30)), outputs(n_prompts, "reference", lambda i: "r" * 20))
    with JudgeServer(ScriptedJudge(prefer_longer), fault_for=early_errors(4), latency_s=0.002 if n_prompts <= 1000 else 0.0, deadline_s=300) as srv:
        # The queue of first attempts takes far longer than one judgment's budget (0.5 s).
        judge = load_judge(str(judge_yaml(tmp_path, srv.base_url, max_concurrency=2, timeout=0.4, total_timeout=0.5,
                                          max_retries=4, both_orders=n_prompts <= 1000)))
        t0 = time.monotonic()
        _, _, info, reqs = judge_pairs(pairs, judge, JudgmentStore(tmp_path / "j.jsonl"), "method", "reference")
        seconds = time.monotonic() - t0
    print(f"early 503s, {n_prompts} prompts, {len(reqs)} requests: {len(info.failures)} missing, {info.retries} retries, {seconds:.1f} s")
    assert info.retries >= 4 and info.failures == []
    assert len((tmp_path / "j.jsonl").read_text().splitlines()) == len({r.key for r in reqs})


def test_item1_early_transient_errors_in_a_big_batch_are_retried_not_lost(tmp_path, fast_backoff):
    _early_503(tmp_path, 200)


@pytest.mark.slow
def test_item1_early_transient_errors_at_twenty_thousand_prompts(tmp_path, fast_backoff):
    _early_503(tmp_path, 20_000)


def test_item1_a_judge_run_that_cannot_finish_says_how_many_are_missing_and_fails(tmp_path, capsys, fast_backoff):
    write_outputs(tmp_path / "m.jsonl", outputs(6, "method", lambda i: "m" * (i + 3)))
    write_outputs(tmp_path / "r.jsonl", outputs(6, "reference", lambda i: "r" * 5))
    with JudgeServer(ScriptedJudge(prefer_longer), fault_for=early_errors(0, always="prompt 3\n")) as srv:
        judge = judge_yaml(tmp_path, srv.base_url, max_retries=1, max_concurrency=2)
        argv = ["judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference", str(tmp_path / "r.jsonl"),
                "--judge", str(judge), "--out", str(tmp_path / "out"), "--quiet", "--bootstrap", "200"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "2 judgment(s) missing" in err and "judgments.failures.jsonl" in err and len(err.strip().splitlines()) == 1
        failed = [json.loads(x)["prompt_id"] for x in (tmp_path / "out" / "judgments.failures.jsonl").read_text().splitlines()]
        assert set(failed) == {"3"}
        assert main(argv + ["--allow-missing", "2"]) == 0


def test_item2_a_reply_with_two_different_verdicts_is_unparseable_not_one_of_them(tmp_path):
    pairs = align_outputs(outputs(3, "method"), outputs(3, "reference"))
    def script(prompt):
        return "My verdict: [[B]]. For the record, the answers said: ...[[A]]..."
    with JudgeServer(script) as srv:
        judge = load_judge(str(judge_yaml(tmp_path, srv.base_url)))
        first, _, info, _ = judge_pairs(pairs, judge, JudgmentStore(tmp_path / "j.jsonl"), "method", "reference")
    stored = [json.loads(x) for x in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert stored and all(r["verdict"] is None for r in stored) and info.failures == []
    assert all(math.isnan(v) for v in first)  # NaN: the prompt is left out and counted, never a win for A


@pytest.mark.parametrize("label", ["../../x", "/abs/victim", "a" * 300, "a\x00b", "tab\there", "up\\..\\win"])
def test_item3_a_method_label_is_a_name_refused_at_load(label):
    from alignbench.config import validate_config
    from alignbench.errors import AlignbenchError

    with pytest.raises(AlignbenchError, match=r"setting 'methods': method label .* (contains|characters long)"):
        validate_config({"methods": {label: {"method": "dpo"}}}, "cfg.yaml")
    validate_config({"methods": {"dpo-β_0.1 v2": {"method": "dpo"}}}, "cfg.yaml")  # an ordinary name passes


@pytest.fixture
def no_training(monkeypatch):
    """A check meant to come before training fails the test if training starts instead."""
    from alignbench import pipeline

    def started(*a, **k):
        raise AssertionError("training started: the check did not come first")

    monkeypatch.setattr(pipeline, "run_comparison", started)


ROW = {"task": "t", "method": "m", "evaluator": "e", "baseline": "b", "n_prompts": 3, "win_rate": 50.0, "ci_low": 20.0,
       "ci_high": 80.0, "std_error": 10.0, "wins": 1, "ties": 1, "losses": 1}


def test_item4_report_never_writes_where_a_rows_task_points(tmp_path, capsys):
    victim = tmp_path / "victim"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "rows.json").write_text(json.dumps([{**ROW, "task": str(victim)}]))
    assert main(["report", str(tmp_path / "d")]) == 2
    assert "give --out" in capsys.readouterr().err and not victim.with_suffix(".html").exists()


def test_item4_report_does_not_overwrite_a_hand_written_page(tmp_path, capsys):
    from alignbench.leaderboard import write_leaderboard

    paths = write_leaderboard([ROW], tmp_path / "x.csv")
    assert main(["report", str(paths["csv"])]) == 0  # its own page: replaced
    paths["html"].write_text("<html>my notes</html>")
    assert main(["report", str(paths["csv"])]) == 2
    assert "x.html: exists and is not a leaderboard alignbench wrote" in capsys.readouterr().err
    assert paths["html"].read_text() == "<html>my notes</html>"


@pytest.mark.parametrize("name", ["oracle-ranking.csv", "oracle-ranking.md", "oracle-frontier.png", "oracle.md", "oracle.html"])
def test_item5_run_refuses_every_foreign_file_it_would_write_before_training(tmp_path, capsys, name, no_training):
    lb = tmp_path / "lb"
    lb.mkdir()
    (lb / name).write_text("the user's own file")
    assert main(["run", "--run-dir", str(tmp_path / "run"), "--leaderboard-dir", str(lb), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{name}: exists and is not a leaderboard alignbench wrote" in err and "--leaderboard-dir" in err
    assert not (tmp_path / "run").exists() and (lb / name).read_text() == "the user's own file"


def test_item18_a_leaderboard_dir_that_is_a_file_is_refused_before_training(tmp_path, capsys, no_training):
    (tmp_path / "lb").write_text("x")
    assert main(["run", "--run-dir", str(tmp_path / "run"), "--leaderboard-dir", str(tmp_path / "lb"), "--quiet"]) == 2
    assert "lb is a file, not a directory" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_item5_the_shipped_leaderboards_are_recognised_as_alignbench_s_own():
    from alignbench.owned import run_files, written_by_alignbench

    for task in ("oracle", "hh-harmless"):
        assert all(written_by_alignbench(p) for p in run_files(REPO / "leaderboards", task))


@pytest.mark.parametrize("rows, message", [
    ([1, 2, 3], "row 1: expected a mapping of columns, got int"),
    ([{}], "row 1: column task: Field required"),
    ([{**ROW, "win_rate": "high"}], "row 1: column win_rate: Input should be a valid number"),
])
def test_item8_a_wrong_shaped_rows_json_is_one_line_in_leaderboard_and_report(tmp_path, capsys, rows, message):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "rows.json").write_text(json.dumps(rows))
    assert main(["leaderboard", str(tmp_path / "d"), "--out", str(tmp_path / "lb.csv")]) == 2
    assert main(["report", str(tmp_path / "d" / "rows.json"), "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("rows.json: " + message in line for line in err), err


EVIL = '=HYPERLINK("http://evil.example/","x")'


def test_item6_formula_cells_are_neutralised_in_csv_and_exact_in_json(tmp_path):
    import csv

    from alignbench.leaderboard import (
        load_leaderboard,
        rows_from_frame,
        write_leaderboard,
    )

    names = [EVIL, "+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "plain"]
    paths = write_leaderboard([{**ROW, "method": n} for n in names], tmp_path / "lb.csv")
    with open(paths["csv"], newline="") as f:
        cells = [r["method"] for r in csv.DictReader(f)]
    assert len(cells) == len(names) and all(c == "plain" or c.startswith("'") for c in cells)
    back = rows_from_frame(load_leaderboard(paths["csv"]))
    assert all(r["ci_low"] == 20.0 for r in back)  # numbers untouched
    assert sorted(r["method"] for r in back) == sorted(n.replace("\r", "\n") for n in names)  # read back as written


def test_item6_ranking_csv_is_neutralised_too(tmp_path):
    import numpy as np

    from alignbench.ranking import write_ranking

    rng = np.random.default_rng(0)
    battles = {(EVIL, "base"): rng.random(30), ("ok", "base"): rng.random(30)}
    write_ranking({"e": battles}, tmp_path / "t-ranking.csv", baseline="base", task="t", n_boot=50)
    text = (tmp_path / "t-ranking.csv").read_text()
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


@pytest.mark.parametrize("name", ["two\nlines", "$\\frac{1}{$"])
def test_item7_names_are_plain_text_in_markdown_and_plots(tmp_path, name):
    from alignbench.leaderboard import frontier_png, write_leaderboard

    rows = [{**ROW, "method": name, "evaluator": f"llm:{name}", "kl_to_sft": 0.1, "mean_reward": 0.2, "judge": name},
            {**ROW, "method": "other", "kl_to_sft": 0.2, "mean_reward": 0.3, "judge": name}]
    paths = write_leaderboard(rows, tmp_path / "lb.csv")  # the win-rate PNG and the page: no mathtext error
    assert frontier_png(rows, "mean_reward")[:4] == b"\x89PNG"
    md = paths["md"].read_text()
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in table_lines)  # no row split by a line break


def _judge_argv(tmp_path, outputs_file, reference_file, judge="rm:/nonexistent"):
    return ["judge", "--outputs", str(outputs_file), "--reference", str(reference_file), "--judge", judge,
            "--out", str(tmp_path / "out"), "--quiet"]


@pytest.mark.parametrize("fmt", ["jsonl", "alpaca_eval"])
def test_item8_a_lone_surrogate_in_an_outputs_file_is_one_line_naming_it(tmp_path, capsys, fmt):
    if fmt == "jsonl":
        bad = tmp_path / "m.jsonl"
        bad.write_text('{"prompt_id": "1", "prompt": "p", "output": "\\ud800", "generator": "m"}\n')
    else:
        bad = tmp_path / "m.json"
        bad.write_text('[{"instruction": "p", "output": "x\\udfff", "generator": "m"}]')
    write_outputs(tmp_path / "r.jsonl", outputs(1, "r"))
    assert main(_judge_argv(tmp_path, bad, tmp_path / "r.jsonl")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad) in err and "lone surrogate" in err
    from alignbench.io import strict_json_loads

    assert strict_json_loads('{"a": "\\ud83d\\ude00"}') == {"a": "😀"}  # an escaped pair is text


def test_item8_the_reference_generator_as_a_method_is_refused_before_anything_is_written(tmp_path, capsys):
    write_outputs(tmp_path / "r.jsonl", outputs(2, "r"))
    assert main(_judge_argv(tmp_path, tmp_path / "r.jsonl", tmp_path / "r.jsonl")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is also the generator of the reference" in err and not (tmp_path / "out").exists()


def test_item9_a_url_password_is_not_printed_when_the_judge_cannot_be_reached(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = judge_yaml(tmp_path, f"http://user:Secret-pw-9@127.0.0.1:{port}/v1")
    write_outputs(tmp_path / "m.jsonl", outputs(1, "m"))
    write_outputs(tmp_path / "r.jsonl", outputs(1, "r"))
    assert main(_judge_argv(tmp_path, tmp_path / "m.jsonl", tmp_path / "r.jsonl", judge=str(judge))) == 2
    err = capsys.readouterr().err
    assert "cannot reach" in err and "Secret-pw-9" not in err and "user:" not in err


def test_item9_a_short_token_pasted_as_api_key_env_is_refused_and_not_echoed(tmp_path, capsys):
    token = "a1B2c3D4e5F6g7H8i9J0kL"  # 22 characters
    judge = judge_yaml(tmp_path, "http://127.0.0.1:9/v1", api_key_env=token)
    write_outputs(tmp_path / "m.jsonl", outputs(1, "m"))
    write_outputs(tmp_path / "r.jsonl", outputs(1, "r"))
    assert main(_judge_argv(tmp_path, tmp_path / "m.jsonl", tmp_path / "r.jsonl", judge=str(judge))) == 2
    err = capsys.readouterr().err
    assert "looks like a key" in err and token not in err
    from alignbench.evaluation.judge_config import looks_like_a_key

    assert not any(map(looks_like_a_key, ["OPENAI_API_KEY", "my_key_2", "AZURE_OPENAI_API_KEY_2024", "JUDGEKEY"]))


def test_item9_one_function_redacts_urls_and_remembered_secrets():
    from alignbench.secrets import redact, remember

    remember("tok-abc-123")
    assert redact("GET https://u:pw@h.example/v1 with tok-abc-123 failed") == "GET https://***@h.example/v1 with *** failed"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


IGNORE_SIGINT_THEN_EXEC = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                           "os.execv(sys.executable, [sys.executable, '-m', 'alignbench', *sys.argv[1:]])")


def test_item10_sigterm_stops_serve_judge_started_with_sigint_ignored(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", IGNORE_SIGINT_THEN_EXEC, "serve-judge", "--port", "0", "--time-limit", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().startswith("http://127.0.0.1:")  # serving, SIGINT ignored (as `cmd &` leaves it)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) is not None
    finally:
        proc.kill()
        proc.wait()


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_item10_grid_cells_die_with_the_grid(tmp_path, how):
    import os
    import signal
    import subprocess
    import sys

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": "quickstart", "grid": {"methods": ["dpo"], "seeds": [0]},
                                    "set": {"sft.steps": 100000}}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", IGNORE_SIGINT_THEN_EXEC, "grid", str(grid), "--out", str(tmp_path / "g"),
                             "--workers", "1", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    cells = []
    try:
        deadline = time.monotonic() + 60
        while not cells and time.monotonic() < deadline:
            time.sleep(0.2)
            cells = _children(proc.pid)
        assert cells, "no cell process started"
        time.sleep(2.0)  # the cell is importing or training
        proc.send_signal(getattr(signal, how))
        proc.wait(timeout=20)
        assert all(_wait_gone(c, 15) for c in cells), "a cell outlived its grid"
    finally:
        proc.kill()
        proc.wait()
        for c in cells:
            if _alive(c):
                os.kill(c, signal.SIGKILL)


def test_item11_grade_and_audit_judge_hold_their_out_directory(tmp_path, capsys):
    from alignbench.dirlock import exclusive_dir

    (tmp_path / "question.jsonl").write_text(json.dumps({"question_id": 1, "category": "writing", "turns": ["Write."]}) + "\n")
    (tmp_path / "a.jsonl").write_text(json.dumps({"question_id": 1, "model_id": "a", "choices": [{"turns": ["ok"]}]}) + "\n")
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"prompt": "p", "chosen": "good", "rejected": "bad"}) + "\n")
    with JudgeServer(lambda prompt: "Rating: [[5]] [[A]]") as srv:
        cfg = yaml.safe_load((REPO / "judges" / "local-scripted-single.yaml").read_text())
        cfg.update(base_url=srv.base_url, template=str(REPO / "judges" / "templates" / Path(cfg["template"]).name))
        if cfg.get("template_multi_turn"):
            cfg["template_multi_turn"] = str(REPO / "judges" / "templates" / Path(cfg["template_multi_turn"]).name)
        (tmp_path / "single.yaml").write_text(yaml.safe_dump(cfg))
        pairwise = judge_yaml(tmp_path, srv.base_url)
        with exclusive_dir(tmp_path / "out", "--out directory"):  # another process is writing judgments here
            assert main(["grade", "--questions", str(tmp_path / "question.jsonl"), "--answers", str(tmp_path / "a.jsonl"),
                         "--judge", str(tmp_path / "single.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
            assert main(["audit-judge", "--judge", str(pairwise), "--pairs", str(tmp_path / "pairs.jsonl"),
                         "--out", str(tmp_path / "out"), "--quiet", "--bootstrap", "200"]) == 2
        served = srv.completions
    err = capsys.readouterr().err.strip().splitlines()
    assert served == 0 and len(err) == 2 and all("in use by another alignbench process" in line for line in err), err


def test_item12_judge_on_a_full_disk_is_one_line_and_resumes(tmp_path, capsys, monkeypatch):
    import errno

    write_outputs(tmp_path / "m.jsonl", outputs(40, "m", lambda i: "m" * (i % 7 + 1)))
    write_outputs(tmp_path / "r.jsonl", outputs(40, "r", lambda i: "rrrr"))
    real_append, calls = JudgmentStore.append, []

    def append(self, records):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real_append(self, records)

    with JudgeServer(ScriptedJudge(prefer_longer), latency_s=0.05) as srv:  # answers arrive together: many writes fail at once
        judge = judge_yaml(tmp_path, srv.base_url, max_concurrency=16)
        argv = _judge_argv(tmp_path, tmp_path / "m.jsonl", tmp_path / "r.jsonl", judge=str(judge)) + ["--bootstrap", "200"]
        monkeypatch.setattr(JudgmentStore, "append", append)
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "no space left on device" in err and "re-run the same command" in err, err
        monkeypatch.setattr(JudgmentStore, "append", real_append)
        assert main(argv) == 0
    assert len((tmp_path / "out" / "judgments.jsonl").read_text().splitlines()) == 80


def test_item12_a_torch_write_failure_in_run_is_one_line(tmp_path, capsys, monkeypatch):
    from alignbench import pipeline

    def full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(pipeline, "run_comparison", full)
    assert main(["run", "--run-dir", str(tmp_path / "run"), "--leaderboard-dir", str(tmp_path / "lb"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is the disk full?" in err


def test_item12_model_heads_are_written_atomically(tmp_path, monkeypatch):
    import torch

    from alignbench.io import atomic_write_torch

    atomic_write_torch(tmp_path / "head.pt", {"w": torch.ones(2)})
    assert torch.equal(torch.load(tmp_path / "head.pt")["w"], torch.ones(2))
    from alignbench.models import encoder_reward, reward

    assert "torch.save(" not in Path(reward.__file__).read_text() and "torch.save(" not in Path(encoder_reward.__file__).read_text()


def _raw(srv, data: bytes, read=True) -> bytes:
    import socket

    host, port = srv._server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(data)
        if not read:
            return b""
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not c:
                break
            chunks.append(c)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_item13_serve_judge_answers_bad_requests_and_bounds_bodies_threads_and_idle_connections(tmp_path, capfd):
    import socket

    with JudgeServer(ScriptedJudge(prefer_longer), max_body_bytes=1000, idle_timeout_s=0.5, max_connections=4) as srv:
        post = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        assert _raw(srv, post + b"Content-Length: 9\r\n\r\n{not json").split(b" ")[1] == b"400"
        assert _raw(srv, post + b"Content-Length: banana\r\n\r\n").split(b" ")[1] == b"400"
        assert _raw(srv, post + b"Content-Length: 600000000\r\n\r\n").split(b" ")[1] == b"413"  # never read
        assert _raw(srv, post + b"Content-Length: 2\r\n\r\n[]").split(b" ")[1] == b"400"
        # Half-open connections: each is closed after the idle time-out; beyond max_connections, 503 at once.
        idle = [socket.create_connection(srv._server.server_address[:2]) for _ in range(4)]
        time.sleep(0.1)
        assert _raw(srv, post + b"Content-Length: 2\r\n\r\n{}").split(b" ")[1] == b"503"
        time.sleep(1.5)
        assert all(s.recv(10) == b"" for s in idle)  # closed by the server
        for s in idle:
            s.close()
        assert _raw(srv, post + b"Content-Length: 2\r\n\r\n{}").split(b" ")[1] == b"400"  # slots are free again
    assert "Traceback" not in capfd.readouterr().err


def test_item14_the_grading_summary_is_linear_in_the_questions():
    import numpy as np

    from alignbench.evaluation.mtbench import score_row

    def timed(n):
        rng = np.random.default_rng(0)
        scores = {(f"q{i}", f"turn-{t}"): float(rng.integers(1, 11)) for i in range(n) for t in (1, 2)}
        t0 = time.perf_counter()
        row = score_row(scores, n_boot=100)
        return time.perf_counter() - t0, row

    small, _ = timed(2_000)
    big, row = timed(20_000)
    print(f"score_row: 2k questions {small:.3f} s, 20k questions {big:.3f} s")
    assert row["n_prompts"] == 20_000 and row["n_ratings"] == 40_000
    assert big < 2.0  # quadratic: ~100 × the 2k time (several seconds at 8k questions, minutes at 20k)


def test_item15_divergent_training_stops_at_the_first_non_finite_loss_with_a_valid_log(tmp_path):
    import torch

    from alignbench.errors import AlignbenchError
    from alignbench.methods.base import MethodContext
    from alignbench.methods.registry import get_method
    from alignbench.models.factory import build_policy
    from alignbench.models.policy import TinyGPT2Spec
    from alignbench.tasks.oracle import OracleSpec, load_oracle

    task = load_oracle(OracleSpec(n_test_prompts=8, pairs_per_train_prompt=1))
    torch.manual_seed(0)
    sft = build_policy(task, None, TinyGPT2Spec(n_layer=1, n_embd=16, n_head=2), seed=0)
    method = get_method("dpo")({"steps": 20, "lr": 1e30, "batch_size": 8, "checkpoint_every": 0}, label="dpo")
    with pytest.raises(AlignbenchError, match=r"dpo: training diverged at step \d+: .*lower setting 'methods.dpo.lr'"):
        method.fit(MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=tmp_path, seed=0))
    log = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in train_log.jsonl"))
           for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert 1 <= len(log) < 20 and all(math.isfinite(r["loss"]) for r in log)  # stopped at the first non-finite loss


@pytest.mark.parametrize("override", ["sft.steps=true", "seed=true", "reward_model.steps=true", "methods.dpo.steps=true"])
def test_item16_a_boolean_is_not_a_number_in_any_setting(override):
    from alignbench.config import load_config
    from alignbench.errors import AlignbenchError

    with pytest.raises(AlignbenchError, match=override.split("=")[0].replace(".", r"\.")):
        load_config("quickstart", [override])


def test_item16_5e_minus_4_is_a_float_everywhere(tmp_path):
    from alignbench.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("sft: {lr: 5e-4}\nreward_model: {lr: 1E-3}\nmethods:\n  dpo: {lr: 5e-4}\n")
    c = load_config(str(cfg))
    assert (c.sft.lr, c.reward_model.lr, c.methods["dpo"]["lr"]) == (5e-4, 1e-3, 5e-4)
    assert load_config("quickstart", ["methods.dpo.lr=2e-5"]).methods["dpo"]["lr"] == 2e-5
    with pytest.raises(Exception, match="sft.lr"):
        load_config("quickstart", ["sft.lr='5e-4'"])  # text stays text: quoted, it is not a number


@pytest.mark.parametrize("kind", ["config", "judge"])
def test_item17_a_repeated_yaml_key_is_refused_naming_its_lines(tmp_path, capsys, kind):
    if kind == "config":
        path = tmp_path / "c.yaml"
        path.write_text("methods:\n  dpo: {}\nseed: 1\nmethods:\n  ipo: {}\n")
        argv = ["run", str(path), "--run-dir", str(tmp_path / "run")]
        line, first = 4, 1
    else:
        path = judge_yaml(tmp_path, "http://127.0.0.1:9/v1")
        text = path.read_text()
        path.write_text(text + "base_url: http://127.0.0.1:10/v1\n")
        first = next(i for i, x in enumerate(text.splitlines(), 1) if x.startswith("base_url:"))
        line = len(text.splitlines()) + 1
        write_outputs(tmp_path / "m.jsonl", outputs(1, "m"))
        write_outputs(tmp_path / "r.jsonl", outputs(1, "r"))
        argv = _judge_argv(tmp_path, tmp_path / "m.jsonl", tmp_path / "r.jsonl", judge=str(path))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert f"{path}:{line}: key " in err and f"appears twice in one mapping (first on line {first})" in err
    from alignbench.safe_yaml import load_yaml_text

    assert load_yaml_text("a: &b {x: 1}\nc:\n  <<: *b\n  x: 2\n", "t") == {"a": {"x": 1}, "c": {"x": 2}}  # merges still work


def test_item18_a_missing_saved_reward_model_is_refused_before_training(tmp_path, capsys, no_training):
    argv = ["run", "--run-dir", str(tmp_path / "run"), "--leaderboard-dir", str(tmp_path / "lb"), "--quiet",
            "--set", "evaluation.evaluators=[gold-reward, 'rm:/nonexistent']"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "rm:/nonexistent" in err and "not a saved reward model" in err and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_item1_a_run_whose_judge_leaves_judgments_missing_fails_unless_allowed(tmp_path, capsys):
    # Every 5th request after the preflight's is answered 503, with no retries: some judgments stay missing.
    with JudgeServer(ScriptedJudge(prefer_longer), fault_for=lambda n, prompt: "server_error" if n > 1 and n % 5 == 0 else None) as srv:
        jf = judge_yaml(tmp_path, srv.base_url, max_retries=0)
        argv = ["run", str(REPO / "tests" / "data" / "tiny.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet",
                "--leaderboard-dir", str(tmp_path / "lb"), "--judge", str(jf)]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert "judgment(s) missing after retries" in err[-1] and "--allow-missing" in err[-1]
        assert (tmp_path / "run" / "rows.json").exists()  # the finished work is kept
        assert main(argv + ["--allow-missing", "1000"]) == 0  # resumed: only the missing ones are asked again
