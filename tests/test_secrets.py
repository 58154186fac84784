"""Secrets: API keys and URL credentials are never written to files or echoed on screen."""

from __future__ import annotations

import json

from judge_fixtures import judge_args, judge_argv, judge_file, judge_yaml, line, make_pairs, outputs, write

from alignbench.cli import main
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer
from alignbench.evaluation.outputs import write_outputs


def test_api_key_pasted_into_api_key_env_is_never_echoed(tmp_path, capsys):
    key = "sk-live-0123456789abcdefABCDEF0123456789"
    code = main(judge_args(tmp_path, write(tmp_path, "m.jsonl", line()), judge=judge_file(tmp_path, api_key_env=key)))
    err = capsys.readouterr().err
    assert code == 2 and "setting 'api_key_env'" in err and "looks like a key" in err
    assert "0123456789abcdef" not in err  # before: "environment variable sk-live-… is not set"


def test_base_url_password_is_not_echoed_in_the_error(tmp_path, capsys):
    code = main(judge_args(tmp_path, write(tmp_path, "m.jsonl", line()),
                           judge=judge_file(tmp_path, base_url="ftp://user:hunter2pw@h/v1")))
    err = capsys.readouterr().err
    assert code == 2 and "setting 'base_url'" in err and "hunter2pw" not in err


def test_api_key_never_written_and_requests_go_to_base_url(tmp_path, capsys, monkeypatch):
    secret = "sk-test-SECRET-0123456789abcdef"
    monkeypatch.setenv("ALIGNBENCH_TEST_KEY", secret)
    m, r = make_pairs(20)
    write_outputs(tmp_path / "m.jsonl", m)
    write_outputs(tmp_path / "r.jsonl", r)
    with JudgeServer(ScriptedJudge(prefer_longer), require_key=secret) as srv:
        jf = judge_yaml(tmp_path, srv.base_url, api_key_env="ALIGNBENCH_TEST_KEY")
        assert main(["judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference", str(tmp_path / "r.jsonl"),
                     "--judge", str(jf), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert main(["leaderboard", str(tmp_path / "out"), "--out", str(tmp_path / "lb" / "t.csv")]) == 0
        assert srv.completions == 40 and all(p == "/v1/chat/completions" for p in srv.seen_paths)
        # A wrong key: the error names the failure, never the key.
        monkeypatch.setenv("ALIGNBENCH_TEST_KEY", secret + "-wrong")
        assert main(["judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference", str(tmp_path / "r.jsonl"),
                     "--judge", str(jf), "--out", str(tmp_path / "out2")]) == 2
    captured = capsys.readouterr()
    assert "every judgment of method failed" in captured.err and "AuthenticationError" in captured.err
    assert secret not in captured.out + captured.err
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".yaml":
            assert secret.encode() not in path.read_bytes(), path
    failures = (tmp_path / "out2" / "judgments.failures.jsonl").read_text()
    assert "AuthenticationError" in failures and "SECRET" not in failures


def test_missing_key_variable_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    m, r = make_pairs(2)
    write_outputs(tmp_path / "m.jsonl", m)
    write_outputs(tmp_path / "r.jsonl", r)
    jf = judge_yaml(tmp_path, "http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR")
    assert main(["judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference", str(tmp_path / "r.jsonl"), "--judge",
                 str(jf), "--out", str(tmp_path / "out")]) == 2
    assert "environment variable NO_SUCH_KEY_VAR is not set" in capsys.readouterr().err


def test_url_credentials_never_reach_rows_csv_or_screen(tmp_path, capsys):
    """Before: `http://user:pw@host/v1` was written into rows.json and the CSV's judge column."""
    password = "pw-SECRET-987"
    m, r = make_pairs(5)
    write_outputs(tmp_path / "m.jsonl", m)
    write_outputs(tmp_path / "r.jsonl", r)
    with JudgeServer(ScriptedJudge(prefer_longer)) as srv:
        url = srv.base_url.replace("http://", f"http://alice:{password}@")
        jf = judge_yaml(tmp_path, url)
        assert main(["judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference", str(tmp_path / "r.jsonl"),
                     "--judge", str(jf), "--out", str(tmp_path / "out"), "--bootstrap", "200"]) == 0
        assert main(["leaderboard", str(tmp_path / "out"), "--out", str(tmp_path / "lb.csv")]) == 0
    captured = capsys.readouterr()
    assert password not in captured.out + captured.err
    assert "***@127.0.0.1" in json.loads((tmp_path / "out" / "rows.json").read_text())[0]["judge"]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".yaml":
            assert password.encode() not in path.read_bytes(), path


def test_a_url_password_is_not_printed_when_the_judge_cannot_be_reached(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = judge_yaml(tmp_path, f"http://user:Secret-pw-9@127.0.0.1:{port}/v1")
    write_outputs(tmp_path / "m.jsonl", outputs(1, "m"))
    write_outputs(tmp_path / "r.jsonl", outputs(1, "r"))
    assert main(judge_argv(tmp_path, tmp_path / "m.jsonl", tmp_path / "r.jsonl", judge=str(judge))) == 2
    err = capsys.readouterr().err
    assert "cannot reach" in err and "Secret-pw-9" not in err and "user:" not in err


def test_a_short_token_pasted_as_api_key_env_is_refused_and_not_echoed(tmp_path, capsys):
    token = "a1B2c3D4e5F6g7H8i9J0kL"  # 22 characters
    judge = judge_yaml(tmp_path, "http://127.0.0.1:9/v1", api_key_env=token)
    write_outputs(tmp_path / "m.jsonl", outputs(1, "m"))
    write_outputs(tmp_path / "r.jsonl", outputs(1, "r"))
    assert main(judge_argv(tmp_path, tmp_path / "m.jsonl", tmp_path / "r.jsonl", judge=str(judge))) == 2
    err = capsys.readouterr().err
    assert "looks like a key" in err and token not in err
    from alignbench.evaluation.judge_config import looks_like_a_key

    assert not any(map(looks_like_a_key, ["OPENAI_API_KEY", "my_key_2", "AZURE_OPENAI_API_KEY_2024", "JUDGEKEY"]))


def test_one_function_redacts_urls_and_remembered_secrets():
    from alignbench.secrets import redact, remember

    remember("tok-abc-123")
    assert redact("GET "
                  "https://u:pw@h.example/v1 with tok-abc-123 failed") == "GET https://***@h.example/v1 with *** failed"
