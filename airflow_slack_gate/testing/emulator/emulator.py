""":class:`SlackEmulator`: the emulator's HTTP server on 127.0.0.1, run in a background thread."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

from airflow_slack_gate.testing.emulator.api import EmulatorApi
from airflow_slack_gate.testing.emulator.seed import airflow_connection_json
from airflow_slack_gate.testing.emulator.server import build_app

LOCAL_HOSTS = ("127.0.0.1", "localhost")
_START_TIMEOUT = 10.0
_SHUTDOWN_TIMEOUT = 0.5  # in-flight calls (e.g. under injected latency) get this long on stop()


class SlackEmulator(EmulatorApi):
    """A Slack Web API emulator: a real HTTP server plus the in-process test API of :class:`EmulatorApi`.

    Point slack_sdk at it with ``WebClient(token=..., base_url=emulator.base_url)``::

        with SlackEmulator() as slack:
            ids = slack.seed_demo_workspace()
            client = WebClient(token=ids.bot_token, base_url=slack.base_url)
            client.chat_postMessage(channel="approvals", text="hi")

    The server listens on 127.0.0.1 only, on ``port`` (0: a free port), in a thread with its own event loop.
    ``rate_limits=True`` enforces Slack's rate limits from the start (see :meth:`enable_rate_limits`).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, rate_limits: bool = False) -> None:
        if host not in LOCAL_HOSTS:
            raise ValueError(f"the emulator listens on 127.0.0.1 only, not {host!r}")
        super().__init__()
        self.host = "127.0.0.1"
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        if rate_limits:
            self.enable_rate_limits()

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:50123/``."""
        return f"http://{self.host}:{self.port}/"

    @property
    def base_url(self) -> str:
        """The Web API base URL for slack_sdk (``base_url=``), ending in ``/api/``."""
        return f"{self.url}api/"

    def airflow_connection(self, channel: str = "approvals") -> str:
        """The seeded bot's Airflow connection (JSON) for ``AIRFLOW_CONN_SLACK_GATE_DEFAULT``."""
        return airflow_connection_json(self.base_url, self.workspace.bot_token, channel)

    def start(self) -> SlackEmulator:
        """Start serving; returns once the port is bound (raises if that fails)."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._thread = threading.Thread(target=self._serve, name="slack-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            self.stop()
            raise RuntimeError("the Slack emulator did not start in time")
        if self._startup_error is not None:
            error, self._startup_error = self._startup_error, None
            self.stop()
            raise RuntimeError("the Slack emulator could not start") from error
        return self

    def stop(self) -> None:
        """Stop serving and free the port; safe to call more than once."""
        loop, thread = self._loop, self._thread
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(_START_TIMEOUT)
        self._thread = self._loop = None
        self._ready.clear()

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._bind())
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
        self._ready.set()
        try:
            if self._startup_error is None:
                loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
                self._runner = None
            _close(loop)

    async def _bind(self) -> None:
        self._runner = web.AppRunner(
            build_app(self), access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what still runs (calls held by injected latency), then close the loop."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
