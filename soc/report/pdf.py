"""PDF from the report's HTML with headless Chromium (``--print-to-pdf``).

Chromium is looked for as $SOC_CHROMIUM, then ``chromium``, ``chromium-browser``,
``google-chrome`` on PATH (Debian: ``apt-get install chromium``). The page it prints is our
own script-free HTML under a CSP that forbids every fetch, so it runs with ``--no-sandbox``
(needed as root and in containers without user namespaces), no network, a throwaway profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_SECONDS = 180


class PdfEngineMissing(RuntimeError):
    """No headless Chromium to print the PDF with."""


class PdfFailed(RuntimeError):
    """Chromium ran but produced no PDF."""


def find_chromium() -> str | None:
    """The Chromium executable to use, or None."""
    explicit = os.environ.get("SOC_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else shutil.which(explicit)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_flags(profile: Path) -> list[str]:
    """Flags for a headless, offline, throwaway Chromium run."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-extensions",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--mute-audio",
        f"--user-data-dir={profile}",
    ]


def html_to_pdf(html: str, out: Path) -> Path:
    """Print ``html`` to the PDF file ``out`` (A4, no browser header/footer)."""
    chromium = find_chromium()
    if chromium is None:
        raise PdfEngineMissing(
            "PDF output needs headless Chromium: install it (Debian: apt-get install chromium) "
            "or set SOC_CHROMIUM; --format html or md work without it"
        )
    with tempfile.TemporaryDirectory(prefix="soc-pdf-") as tmp:
        work = Path(tmp)
        page = work / "report.html"
        page.write_text(html, encoding="utf-8")
        target = work / "report.pdf"
        command = [
            chromium,
            *chromium_flags(work / "profile"),
            "--no-pdf-header-footer",
            "--print-to-pdf-no-header",  # the same for older Chromium releases
            f"--print-to-pdf={target}",
            page.as_uri(),
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            raise PdfFailed(
                f"Chromium did not finish printing within {TIMEOUT_SECONDS} s"
            ) from None
        except OSError as exc:
            raise PdfEngineMissing(f"cannot run {chromium}: {exc.strerror or exc}") from None
        if not target.exists() or not target.read_bytes().startswith(b"%PDF"):
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise PdfFailed(f"Chromium produced no PDF (exit {result.returncode}): {last}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, out)
    return out
