"""The run report in a real browser: headless Chromium, driven over the DevTools protocol.

Chromium starts with `--headless --no-sandbox --disable-gpu`, a fresh `--user-data-dir` and
`--remote-debugging-port=0`; the port it picked is read from `DevToolsActivePort` in that folder.
One websocket to the page target (the `websockets` package) carries every command and event, so
console errors are caught as events rather than parsed out of Chromium's log: a console.error or
console.assert (Runtime.consoleAPICalled), an uncaught exception (Runtime.exceptionThrown), a
browser-side error such as a refused load or a CSP violation (Log.entryAdded, level error), and
every request the page makes (Network.requestWillBeSent; only file: and data: are allowed).
Each plot is checked drawn by decoding its <img> and counting the non-white pixels it paints on
a canvas, and its titles are checked apart by laying its SVG out in the page and comparing the
bounding boxes of the title text (ids title-<n> and suptitle, pipeline/report/plots.py). The full
page is saved as report.png under the test's temp dir.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report import demo_run, planted_run

from thresher.pipeline.report import build_html_report
from thresher.pipeline.report.plots import PLOT_RC, svg_img

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs headless Chromium on PATH (Debian: apt-get install chromium; .ci/run does)",
)
websockets_sync = pytest.importorskip(
    "websockets.sync.client", reason="needs the websockets package (a dev dependency)"
)

TIMEOUT = 60.0  # seconds for Chromium to start or a page to load; generous for a loaded CI box

# For every figure: its plot id, whether its image decodes, its size, and the share of its pixels
# that are not white once drawn on a canvas (a blank or broken image gives 0).
PLOTS_JS = """
Promise.all([...document.querySelectorAll('figure[data-plot]')].map(async (fig) => {
  const img = fig.querySelector('img');
  const ok = await img.decode().then(() => true, () => false);
  const w = img.naturalWidth, h = img.naturalHeight;
  let ink = 0;
  if (ok && w && h) {
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const g = c.getContext('2d');
    g.fillStyle = '#fff'; g.fillRect(0, 0, w, h);
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, w, h).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] < 240 || px[i+1] < 240 || px[i+2] < 240) n++;
    ink = n / (w * h);
  }
  return {plot: fig.dataset.plot, ok, w, h, ink};
}))
"""


# For every figure: the screen boxes of its title text. The <img>'s SVG is decoded from its data
# URI and laid out inline, one at a time, in a hidden box (an <img>'s SVG has no DOM to ask).
TITLES_JS = """
(() => {
  const box = document.createElement('div');
  box.style.cssText = 'position:absolute;left:0;top:0;visibility:hidden';
  document.body.appendChild(box);
  const out = [...document.querySelectorAll('figure[data-plot]')].map((fig) => {
    const src = fig.querySelector('img').src;
    const bytes = Uint8Array.from(atob(src.slice(src.indexOf(',') + 1)), (c) => c.charCodeAt(0));
    const svg = new DOMParser().parseFromString(new TextDecoder().decode(bytes), 'image/svg+xml');
    box.replaceChildren(document.importNode(svg.documentElement, true));
    const titles = [...box.querySelectorAll('g[id^="title-"], g[id="suptitle"]')].map((g) => {
      const r = g.getBoundingClientRect();
      return {id: g.id, left: r.left, top: r.top, right: r.right, bottom: r.bottom};
    }).filter((t) => t.right > t.left && t.bottom > t.top);  // an empty title draws nothing
    return {plot: fig.dataset.plot, titles};
  });
  box.remove();
  return out;
})()
"""


def overlaps(figures: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(plot, title id, title id) for every two titles of one figure whose boxes intersect."""
    out = []
    for f in figures:
        for a, b in itertools.combinations(f["titles"], 2):
            across = a["left"] < b["right"] and b["left"] < a["right"]
            if across and a["top"] < b["bottom"] and b["top"] < a["bottom"]:
                out.append((f["plot"], a["id"], b["id"]))
    return out


class Page:
    """One Chromium tab over CDP: send commands, collect the events that arrive meanwhile."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self.ids)
        self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == n:
                if "error" in msg:
                    raise RuntimeError(f"CDP {method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=deadline - time.monotonic())))
        return next(e for e in self.events if e.get("method") == method)

    def evaluate(self, expression: str) -> Any:
        r = self.send("Runtime.evaluate", expression=expression, awaitPromise=True,
                      returnByValue=True)  # fmt: skip
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, url: str) -> None:
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails']}")
            elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value') for a in p['args']]}")
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def requests(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path) -> None:
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.send("Page.captureScreenshot", format="png", clip=clip,
                         captureBeyondViewport=True)  # fmt: skip
        path.write_bytes(base64.b64decode(shot["data"]))


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[Page]:
    """A headless Chromium with a fresh profile, and its first tab."""
    log = (profile.parent / "chromium.log").open("wb")
    proc = subprocess.Popen(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--no-first-run", "--no-default-browser-check",
         "--window-size=1280,900", "about:blank"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start; see {log.name}")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT) as r:
            targets = json.load(r)
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        with websockets_sync.connect(url, max_size=None, open_timeout=TIMEOUT) as ws:
            yield Page(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_demo_report_loads_cleanly_and_draws_every_plot(tmp_path_factory, tmp_path):
    run_dir = demo_run(tmp_path_factory)
    page_file = run_dir / "report" / "index.html"
    expected = json.loads((run_dir / "report" / "report.json").read_text())["plots"]
    with chromium(tmp_path / "profile") as page:
        page.open(page_file.as_uri())
        plots = page.evaluate(PLOTS_JS)
        sections = page.evaluate("[...document.querySelectorAll('section h2')].length")
        page.screenshot(tmp_path / "report.png")
        assert page.errors() == []
        assert [u for u in page.requests() if not u.startswith(("file:", "data:"))] == []
    assert sorted(p["plot"] for p in plots) == expected
    for p in plots:
        assert p["ok"] and p["w"] > 100 and p["h"] > 50, p
        assert p["ink"] > 0.01, p  # bars, axes and labels cover some of the image
    assert sections == 6
    png = (tmp_path / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 50_000


def test_planted_report_runs_no_script_in_the_browser(tmp_path):
    page_file = build_html_report(planted_run(tmp_path))
    with chromium(tmp_path / "profile") as page:
        page.open(page_file.as_uri())
        pwned = page.evaluate("typeof window.__pwned")
        injected = page.evaluate(
            "document.querySelectorAll('script, [onerror], a:not([href^=\"#\"])').length"
        )
        text = page.evaluate("document.body.innerText")
        page.screenshot(tmp_path / "planted.png")
        assert page.errors() == []
    assert pwned == "undefined"
    assert injected == 0
    assert "<script>window.__pwned = 1</script>" in text  # shown as text, not run


def test_console_errors_are_caught(tmp_path):
    """The checks above can fail: a page that logs an error and throws is reported."""
    bad = tmp_path / "bad.html"
    bad.write_text("<script>console.error('boom'); throw new Error('bang')</script>")
    with chromium(tmp_path / "profile") as page:
        page.open(bad.as_uri())
        time.sleep(0.2)  # let the events of the load arrive
        page.evaluate("1")
        errors = page.errors()
    assert any("boom" in e for e in errors) and any("bang" in e for e in errors)


def test_demo_report_plot_titles_do_not_overlap(tmp_path_factory, tmp_path):
    run_dir = demo_run(tmp_path_factory)
    with chromium(tmp_path / "profile") as page:
        page.open((run_dir / "report" / "index.html").as_uri())
        figures = page.evaluate(TITLES_JS)
    titles = {f["plot"]: sorted(t["id"] for t in f["titles"]) for f in figures}
    # every plot has a title to compare; the two-panel ones a figure title above the panels'
    assert all(titles.values()), titles
    assert titles["language"] == titles["domain"] == ["title-0"]
    assert titles["recency"] == ["suptitle", "title-0", "title-1"]
    assert overlaps(figures) == []


def test_overlapping_titles_are_caught(tmp_path):
    """The check above can fail: a panel title and a figure title drawn in one place."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(PLOT_RC):  # type: ignore[arg-type]
        fig = Figure(figsize=(5, 2))  # no constrained layout: suptitle lands on the axes title
        ax = fig.subplots()
        ax.barh(["en", "zh"], [3, 1])
        ax.set_title("language")
        fig.suptitle("languages").set_gid("suptitle")
        img = svg_img(fig)
    bad = tmp_path / "overlap.html"
    bad.write_text(f'<!DOCTYPE html><figure data-plot="language">{img}</figure>')
    with chromium(tmp_path / "profile") as page:
        page.open(bad.as_uri())
        figures = page.evaluate(TITLES_JS)
    assert overlaps(figures) == [("language", "title-0", "suptitle")]
