"""The emulator's Slack in the browser: one HTML page at ``/`` (inline CSS and script, no external assets).

The page lists the workspace's channels, shows their messages, blocks, threads, reactions and the
acting person's ephemeral messages and modals, and acts as the person chosen in it through the admin
routes under ``/_emulator/`` that tests use: replies, posts and reactions as
:meth:`~airflow_slack_gate.testing.emulator.api.EmulatorApi.reply` makes them, button clicks as
:meth:`~airflow_slack_gate.testing.emulator.api.EmulatorApi.click_button` delivers them (Socket Mode, else the
signed Request URL POST), modal submissions as
:meth:`~airflow_slack_gate.testing.emulator.api.EmulatorApi.submit_view`. It reads those routes every few
hundred milliseconds, so what an app changes shows without a reload. Everything it shows from data is set
as text, never as HTML.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from aiohttp import web

PAGE_PATH = "/"


def page_html() -> str:
    """The page's HTML."""
    return files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def content_security_policy(html: str) -> str:
    """The page may run only its own script and style (by their hashes, so no inline event handler or
    injected script runs even if data ever reached the DOM as HTML), loads nothing, and talks only to
    its origin."""

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        return " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" for body in bodies
        )

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def add_page_route(app: web.Application) -> None:
    """Serve the page at ``/``."""
    html = page_html()
    headers = {
        "Content-Security-Policy": content_security_policy(html),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)

    app.router.add_get(PAGE_PATH, page)
