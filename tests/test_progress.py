"""Progress output: bars on stderr, every logged line in run.log."""

from __future__ import annotations


def test_run_log_gets_every_logged_line_even_when_quiet(tmp_path):
    from alignbench.progress import progress_bar

    with progress_bar(quiet=True, log_path=tmp_path / "run.log") as progress:
        progress.log("sft: held-out NLL 2.1 → 1.3")
    lines = (tmp_path / "run.log").read_text().splitlines()
    assert (
        lines[0].split(" ", 1)[1].startswith("start:")
        and "sft: held-out NLL" in lines[1]
        and lines[-1].endswith("finished")
    )


def test_progress_bars_go_to_stderr():
    from alignbench.progress import progress_bar

    with progress_bar(quiet=False) as progress:
        assert progress.p.console.stderr
