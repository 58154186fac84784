"""One rule for every file alignbench writes into a user's directory (leaderboards, rankings, plots, pages):
an existing file is replaced only when alignbench wrote it, recognised by what it starts with."""

from __future__ import annotations

from pathlib import Path

from .errors import AlignbenchError

PNG_SOFTWARE = "alignbench"  # the PNG's 'Software' text chunk (matplotlib's savefig metadata)
_PNG_MARK = b"tEXtSoftware\x00" + PNG_SOFTWARE.encode()
_STARTS = {
    ".csv": (b"task,method,evaluator,baseline,",),  # the leaderboard's and the ranking's first columns
    ".md": ("# Leaderboard: ".encode(), "# Ranking\n\nBradley–Terry".encode()),
}
_HTML_MARK = b"<title>alignbench leaderboard: "


def written_by_alignbench(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if path.suffix == ".png":
        return head.startswith(b"\x89PNG") and _PNG_MARK in head
    if path.suffix == ".html":
        return _HTML_MARK in head
    return head.startswith(_STARTS.get(path.suffix, ()) or (b"\x00never",))


def check_replaceable(paths, remedy: str) -> None:
    """Refuse, naming the file, before anything is written: each path is free, or a file alignbench wrote."""
    for path in map(Path, paths):
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise AlignbenchError(f"{path}: {blocker} is a file, not a directory")
        if path.is_dir():
            raise AlignbenchError(f"{path}: is a directory, where alignbench writes a file; {remedy}")
        if path.exists() and not written_by_alignbench(path):
            raise AlignbenchError(f"{path}: exists and is not a leaderboard alignbench wrote; {remedy}")


def leaderboard_files(out_csv: Path, frontier: Path | None = None) -> list[Path]:
    """Every file a leaderboard write makes: the CSV and the Markdown, PNG and HTML beside it (+ a frontier PNG)."""
    out_csv = Path(out_csv)
    return [out_csv, *(out_csv.with_suffix(s) for s in (".md", ".png", ".html")),
            *([Path(frontier)] if frontier else [])]


def run_files(out_dir: Path, task: str) -> list[Path]:
    """Every file ``alignbench run`` writes into its leaderboard directory."""
    out_dir = Path(out_dir)
    ranking = out_dir / f"{task}-ranking.csv"
    return [*leaderboard_files(out_dir / f"{task}.csv", out_dir / f"{task}-frontier.png"), ranking,
            ranking.with_suffix(".md")]
