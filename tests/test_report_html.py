"""The static HTML leaderboard page, opened in a real headless browser (Debian's `chromium`).

The browser runs the page's own JavaScript: a script appended to a copy of the page clicks the
summary table's headers (real click events on the real handlers) and writes what it saw into the
DOM, which `--dump-dom` returns. Skipped, saying why, where chromium is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from alignbench.leaderboard import load_leaderboard, rows_from_frame
from alignbench.report_html import html_from_leaderboard, write_html

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get update && apt-get install -y chromium)")

PROBE = """
<script>
window.addEventListener("load", () => {
  const methods = () => Array.from(document.querySelectorAll("#summary tbody tr")).map(r => r.cells[0].textContent);
  const out = {initial: methods()};
  const header = document.querySelectorAll("#summary thead th");
  header[1].click();
  out.byFirstWinRateDesc = methods();
  header[1].click();
  out.byFirstWinRateAsc = methods();
  header[0].click();
  out.byMethodDesc = methods();
  out.ariaSort = header[0].getAttribute("aria-sort");
  out.images = Array.from(document.images).map(i => i.complete && i.naturalWidth > 100);
  out.longRows = document.querySelectorAll("#rows tbody tr").length;
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _browser(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _open_and_click(page: Path, tmp_path: Path) -> dict:
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    res = _browser(["--dump-dom", probe_page.as_uri()], tmp_path)
    m = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"the page did not run its script in chromium: {res.stderr[-500:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _external_references(page: Path) -> list[str]:
    found = []

    class Refs(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for k, v in attrs:
                if k in ("src", "href") and v and not v.startswith(("data:", "#")):
                    found.append(f"{tag} {k}={v[:60]}")

    Refs().feed(page.read_text(encoding="utf-8"))
    return found


def _rows():
    methods = {"alpha": (61.0, 55.0), "beta": (72.5, 40.0), "gamma": (48.0, 66.0), "delta": (90.0, 52.0),
               "eps|ilon": (30.0, 30.0)}
    rows = []
    for name, (vs_sft, vs_data) in methods.items():
        for baseline, win in (("sft", vs_sft), ("dataset", vs_data)):
            rows.append({"task": "oracle", "method": name, "evaluator": "reward-model", "baseline": baseline,
                         "n_prompts": 64,
                         "win_rate": win, "ci_low": win - 6, "ci_high": win + 6, "std_error": 3.0, "wins": 1, "ties": 0,
                         "losses": 1, "judge": "train RM", "run_id": "quickstart-1", "mean_reward": win / 20,
                         "kl_to_sft": win / 50, "exact_reward": win / 18})
    return rows


def test_page_is_self_contained():
    """Broken variant caught: a CDN script or an image by URL (the page would need the network)."""
    from alignbench.report_html import render_html

    html = render_html(_rows(), "oracle")
    assert "<script src" not in html and "http://" not in html and "https://" not in html
    assert html.count("data:image/png;base64,") == 2


@needs_browser
def test_page_opens_sorts_on_click_and_shows_every_method(tmp_path):
    page = write_html(_rows(), tmp_path / "oracle.html", "oracle")
    assert not _external_references(page)
    seen = _open_and_click(page, tmp_path)
    everything = {"alpha", "beta", "gamma", "delta", "eps|ilon"}
    assert set(seen["initial"]) == everything
    assert seen["byFirstWinRateDesc"] == ["delta", "beta", "alpha", "gamma", "eps|ilon"]  # win % vs sft, highest first
    # The page opens sorted this way already; the reversed order proves the click re-sorted the rows
    # (with the re-append line of sortTable removed, this assertion fails).
    assert seen["byFirstWinRateAsc"] == list(reversed(seen["byFirstWinRateDesc"]))
    assert seen["byMethodDesc"] == sorted(everything, reverse=True) and seen["ariaSort"] == "descending"
    assert seen["images"] == [True, True]  # both plots decode from their base64 data
    assert seen["longRows"] == 10
    shot = tmp_path / "page.png"
    _browser([f"--screenshot={shot}", "--window-size=1300,2000", page.as_uri()], tmp_path)
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000


@needs_browser
@pytest.mark.parametrize("task", ["oracle", "hh-harmless"])
def test_published_pages_show_every_published_method(tmp_path, task):
    csv = ROOT / "leaderboards" / f"{task}.csv"
    if not csv.exists():
        pytest.skip(f"{csv} is not published in this checkout")
    page = html_from_leaderboard(csv, tmp_path / f"{task}.html")
    assert not _external_references(page)
    seen = _open_and_click(page, tmp_path)
    published = {r["method"] for r in rows_from_frame(load_leaderboard(csv))}
    assert set(seen["initial"]) == published and len(seen["initial"]) == len(published)
    assert seen["images"] == [True, True]
    assert seen["longRows"] == len(load_leaderboard(csv))
