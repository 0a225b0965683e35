"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (fds 3 and 4,
NUL-terminated JSON), used to load a report in headless Chromium and record every network
request, script exception and console error the page causes."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soc.report.pdf import chromium_flags


class CdpError(RuntimeError):
    """Chromium answered a command with an error, or did not answer in time."""


@dataclass
class PageLoad:
    """What happened while a page loaded."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


class Chromium:
    """A headless Chromium driven over the DevTools pipe."""

    def __init__(self, executable: str, profile: Path) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile / "chromium-stderr.log"
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire() -> None:
            # dup2 onto the same number is a no-op that keeps close-on-exec: clear it.
            for source, target in ((to_child_r, 3), (from_child_w, 4)):
                if source != target:
                    os.dup2(source, target)
                os.set_inheritable(target, True)

        # preexec_fn runs before the child closes its other descriptors, so only the two
        # pipe ends (now 3 and 4) and the log reach Chromium.
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [executable, *chromium_flags(profile), "--remote-debugging-pipe", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=wire,
                close_fds=True,
                pass_fds=(3, 4),
            )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        """Ask the browser to exit, then make sure it has."""
        with contextlib.suppress(CdpError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)

    def log_tail(self, lines: int = 5) -> str:
        """The last lines Chromium wrote to stdout/stderr, for an error message."""
        try:
            tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "; Chromium said: " + " | ".join(tail) if tail else ""

    def _read_message(self, deadline: float) -> dict[str, Any] | None:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._from_child], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise CdpError(f"Chromium closed the DevTools pipe{self.log_tail()}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Run one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply is None:
                raise CdpError(f"no answer to {method} within {timeout} s{self.log_tail()}")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        """The first event named ``method`` (already received or arriving within timeout)."""
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply is None:
                raise CdpError(f"no {method} within {timeout} s")
            if "method" in reply:
                self.events.append(reply)
                if reply["method"] == method:
                    return reply

    def drain(self, seconds: float) -> None:
        """Collect events for a little while (late requests, late errors)."""
        deadline = time.monotonic() + seconds
        while (reply := self._read_message(deadline)) is not None:
            if "method" in reply:
                self.events.append(reply)


_STATE_JS = """
// Words (up to 48 characters) of table cells and facts that the layout split over lines.
function brokenWords() {
  const broken = [];
  const cells = document.querySelectorAll('td, th, dd');
  for (const cell of cells) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        if (match[0].length > 48) continue;
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}
document.fonts.ready.then(() => JSON.stringify({
  title: document.title,
  scripts: document.scripts.length,
  links: document.querySelectorAll('a[href], area[href], [onclick], [onerror], iframe, object,'
    + ' embed, form, base, link[href]').length,
  images: [...document.images].map(i => [i.complete, i.naturalWidth]),
  fonts: [...document.fonts].map(f => [f.family, f.weight, f.status]),
  bodyFont: getComputedStyle(document.body).fontFamily,
  text: document.body.innerText,
  brokenWords: brokenWords(),
}))
"""


def _start_with_tab(executable: str, profile: Path) -> tuple[Chromium, str]:
    """A started browser and the session of a blank tab attached to it.

    A browser that does not come up (no answer, or its pipe closes before the tab exists) is
    started once more in a fresh profile: that is the browser failing to start on a busy
    machine, not the page under test. Both failures are named when the second also fails."""
    failures: list[str] = []
    for attempt in (1, 2):
        browser = Chromium(executable, profile / f"start-{attempt}")
        try:
            browser.send("Browser.getVersion", timeout=60)
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})
            return browser, attached["sessionId"]
        except CdpError as error:
            failures.append(f"start {attempt}: {error}")
            browser.close()
    raise CdpError("Chromium did not start: " + "; ".join(failures))


def load_page(
    executable: str, profile: Path, page: Path, width: int = 900, media: str = "screen"
) -> PageLoad:
    """Open ``page`` in headless Chromium (``width`` CSS pixels wide, ``media`` "screen" or
    "print"), record what it did, screenshot its first page."""
    browser, session = _start_with_tab(executable, profile)
    try:
        for domain in ("Page", "Network", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": int(width * 1.414), "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.send("Emulation.setEmulatedMedia", {"media": media}, session=session)
        browser.events.clear()
        browser.send("Page.navigate", {"url": page.as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired", timeout=60)
        result = browser.send(
            "Runtime.evaluate",
            {"expression": _STATE_JS, "awaitPromise": True, "returnByValue": True},
            session=session,
        )
        browser.drain(0.5)
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
        load = PageLoad(
            state=json.loads(result["result"]["value"]), screenshot=base64.b64decode(shot["data"])
        )
        for event in browser.events:
            params = event.get("params", {})
            method = event["method"]
            if method == "Network.requestWillBeSent":
                load.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                load.failed.append(params.get("errorText", ""))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                thrown = details.get("exception", {}).get("description")
                load.exceptions.append(str(thrown or details.get("text", "exception")))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                load.errors.append(params["entry"].get("text", ""))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                load.errors.append(json.dumps(params.get("args", []))[:300])
        return load
    finally:
        browser.close()
