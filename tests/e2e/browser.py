"""Shared pieces of the browser tests (Debian's Chromium driven by Playwright).

- `launch`: Chromium with the flags this kind of machine needs (no sandbox as root, no background
  networking: the machine has no general internet access);
- `Watch`: what a page did that a visitor would suffer from or an attacker would want: console
  errors, uncaught exceptions, dialogs (alert/confirm/prompt: an XSS payload that ran), CSP
  violations, and requests to any origin not expected;
- `axe_violations`: axe-core (installed by scripts/install-axe.sh) run inside the page; the
  serious and critical violations are returned;
- `screenshot`: saved under SCREENSHOTS (var/test-artifacts/screenshots), named in the README.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
AXE_JS = REPO / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "var" / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

# Records CSP violations before any page script runs (init scripts are not subject to the page's CSP).
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
});
"""


def launch(playwright: Any, chromium_path: str) -> Any:
    return playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)


@dataclass
class Watch:
    """Problems seen on one page. `allowed_origins`: where the page may send requests."""

    allowed_origins: set[str]
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    unexpected_requests: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> Any:
        page.add_init_script(CSP_RECORDER)
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))

        def on_dialog(d: Any) -> None:
            self.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", on_dialog)

        def on_request(r: Any) -> None:
            parts = urlsplit(r.url)
            if parts.scheme in ("data", "blob", "about"):
                return
            if f"{parts.scheme}://{parts.netloc}" not in self.allowed_origins:
                self.unexpected_requests.append(r.url)

        page.on("request", on_request)
        return page

    def csp_violations(self, page: Any) -> list[dict[str, Any]]:
        return list(page.evaluate("window.__cspViolations || []"))

    def problems(self, page: Any, ignore_console: tuple[str, ...] = ()) -> dict[str, list[Any]]:
        """Everything that went wrong; an empty dict when nothing did."""
        found: dict[str, list[Any]] = {
            "console_errors": [m for m in self.console_errors if not any(s in m for s in ignore_console)],
            "page_errors": self.page_errors,
            "dialogs": self.dialogs,
            "unexpected_requests": self.unexpected_requests,
            "csp_violations": self.csp_violations(page),
        }
        return {k: v for k, v in found.items() if v}


def axe_violations(page: Any, include: str | None = None, impacts: tuple[str, ...] = ("serious", "critical")) -> list:
    """axe-core's WCAG 2.x A/AA violations of the given impacts, as short dicts (rule, impact, targets).

    axe is evaluated through the DevTools protocol, which the page's CSP does not govern, so the
    page is tested under its real policy."""
    if not AXE_JS.exists():
        raise RuntimeError(f"axe-core is missing at {AXE_JS}: run scripts/install-axe.sh (make test does)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}
    context = json.dumps(include) if include else "document"
    result = page.evaluate(f"async () => await axe.run({context}, {json.dumps(options)})")
    return [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"], "targets": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v.get("impact") in impacts
    ]


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
