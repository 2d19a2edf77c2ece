"""What a connection says about receiving clicks: its app-level token and its signing secret.

Read without blocking the event loop (the triggerer's, or the API server's), the way the hook reads
its own extras. The values are secrets: they are never logged, and never leave this process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

from airflow_slack_gate.hooks.slack import SlackGateHook


@dataclass(frozen=True)
class InteractionSettings:
    """The Socket Mode and Request URL settings of one Airflow connection."""

    conn_id: str
    conn_type: str | None = None
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    base_url: str | None = None
    proxy: str | None = None
    timeout: int = 30


async def interaction_settings(hook: SlackGateHook) -> InteractionSettings:
    """The connection's ``app_token`` (``xapp-...``) and ``signing_secret`` extras, and where Slack is."""
    conn = await get_async_connection(hook.slack_conn_id, hook=hook)
    extra = await get_async_extra_dejson(conn)
    extras = hook._extras(conn, extra)
    params = hook._params_from(conn, extra)
    return InteractionSettings(
        conn_id=hook.slack_conn_id,
        conn_type=conn.conn_type,
        app_token=_text(extras.get("app_token", default=None)),
        signing_secret=_text(extras.get("signing_secret", default=None)),
        base_url=params.get("base_url"),
        proxy=params.get("proxy"),
        timeout=int(params["timeout"]),
    )


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None
