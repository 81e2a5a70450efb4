"""The board report in a real browser: headless Chromium (Debian's ``chromium``, which .ci/run
installs) loads the page with the network blocked, and the test asserts on what rendered.

Chromium is driven through its own DevTools protocol over a pipe (``--remote-debugging-pipe``:
JSON messages, NUL-terminated, on file descriptors 3 and 4), so no browser library is needed.
The network is blocked twice over: every host resolves to nothing and every request goes to a
closed proxy port; the test also fails on any request that is not the file itself.

Set ``KPI_SCREENSHOT=docs/img/report.png`` to refresh the README's screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import kpi_engine
from kpi_engine.report import render_html, report_run

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1400, 990  # about A4 landscape's proportions (297 x 210 mm)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: apt-get install -y chromium (.ci/run does it)"
    return found


class DevTools:
    """A Chromium process and one page, spoken to over the DevTools pipe."""

    def __init__(self, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # in the child: the protocol's fds 3 (in) and 4 (out)
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--proxy-server=127.0.0.1:9",
                f"--window-size={WIDTH},{HEIGHT}",
                "about:blank",
            ],
            preexec_fn=wire_pipes,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            assert ready, "chromium did not answer in time"
            chunk = os.read(self._from_browser, 1 << 20)
            assert chunk, "chromium closed the DevTools pipe"
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def call(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                assert "error" not in reply, (method, reply["error"])
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"][
            "value"
        ]

    def close(self) -> None:
        with contextlib.suppress(AssertionError):  # the browser may close before answering
            self.call("Browser.close", timeout=10)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The sample's report, opened in Chromium: what the page reported, and the browser."""
    folder = tmp_path_factory.mktemp("browser")
    page = folder / "report.html"
    definitions = kpi_engine.load_definitions("corporate-scorecard")
    report = report_run(REPO / "sample_data", definitions, period="2016-03")
    page.write_text(render_html(report), encoding="utf-8")
    browser = DevTools(folder / "profile")
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        browser.session = browser.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable")
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        browser.call("Page.navigate", url=page.as_uri())
        browser.wait_for("Page.loadEventFired")
        yield report, page, browser
    finally:
        browser.close()


def test_loads_without_console_errors_or_network(rendered):
    _, page, browser = rendered
    errors = [
        e
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []
    requests = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requests == [page.as_uri()]


def test_what_rendered(rendered, tmp_path):
    report, _, browser = rendered
    charts = browser.evaluate(
        "[...document.querySelectorAll('svg.chart')]"
        ".filter(s => s.getBoundingClientRect().height > 40).length"
    )
    assert charts == sum(m.charted for m in report.measures) > 25
    cards = browser.evaluate("document.querySelectorAll('article.measure').length")
    assert cards == len(report.measures)
    height = browser.evaluate("document.documentElement.scrollHeight")
    # 35 measures, two cards a row of about 500 px, the summary and the appendices
    assert 8_000 < height < 40_000, height
    points = browser.evaluate("document.querySelectorAll('svg.chart .point').length")
    assert points > 24 * 20
    print(f"rendered: {charts} charts, {cards} measures, {points} points, page height {height}px")
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    assert shot.startswith(b"\x89PNG") and len(shot) > 20_000
    (tmp_path / "report-first-page.png").write_bytes(shot)
    if os.environ.get("KPI_SCREENSHOT"):
        Path(os.environ["KPI_SCREENSHOT"]).write_bytes(shot)


def test_prints_as_an_a4_landscape_board_pack(rendered):
    _, _, browser = rendered
    pdf = base64.b64decode(
        browser.call("Page.printToPDF", preferCSSPageSize=True, printBackground=True)["data"]
    )
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    # one page or more per section (each starts a page), the summary, the two appendices
    assert 10 <= pages <= 60, pages
    print(f"printed: {pages} A4 landscape pages")
    box = pdf[pdf.index(b"/MediaBox") :][:60]
    width, height = (float(v) for v in box.split(b"[")[1].split(b"]")[0].split()[2:4])
    assert (round(width), round(height)) == (842, 595)  # A4 landscape in points
