"""What an Airflow connection says to this package: the one place that reads a connection's settings.

A ``slack_gate`` (or official ``slack``) connection holds the bot token (``xoxb-...``) in its password
and, in its extras, where Slack is (``base_url``, ``proxy``, ``timeout``), the ``default_channel``,
the Socket Mode app-level token (``app_token``, ``xapp-...``), the Request URL's ``signing_secret``
and, for finding a run's requester in Slack, ``slack_users`` and ``email_domain``. Extras are read
under the connection's own type, so the ``extra__<type>__<name>`` keys of older Airflow UIs work too.

:func:`read_settings` reads them in a worker, :func:`aread_settings` in an event loop (a triggerer's
or the API server's) without blocking it; both parse with :func:`parse_settings`. The hook reads them
once and keeps them (:meth:`~airflow_slack_gate.hooks.slack.SlackGateHook.settings`); its sync and
async clients, the Socket Mode listener, the Request URL and the sensor's requester mapping all use
those. The tokens and the signing secret are never logged (they are left out of the settings' repr),
and never leave this process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook
from airflow.providers.slack.utils import ConnectionExtraConfig

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

CONN_TYPE = "slack_gate"
#: Seconds a Slack call may take when neither the hook nor the connection's ``timeout`` extra says.
DEFAULT_TIMEOUT = 30


@dataclass(frozen=True)
class ConnectionSettings:
    """The settings of one Airflow connection, as :func:`parse_settings` read them."""

    conn_id: str
    conn_type: str | None = None
    token: str | None = field(default=None, repr=False)
    base_url: str | None = None
    proxy: str | None = None
    timeout: int = DEFAULT_TIMEOUT
    default_channel: str | None = None
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    #: The ``slack_users`` extra as stored (a mapping or its JSON text): see
    #: :func:`airflow_slack_gate.core.requesters.parse_user_map`.
    slack_users: Any = None
    email_domain: str | None = None

    @property
    def clicks_delivered(self) -> bool:
        """Whether Slack can deliver a button click for this connection: it has an app-level token
        (Socket Mode) or a signing secret (a Request URL on the API server)."""
        return bool(self.app_token or self.signing_secret)

    def bot_token(self) -> str:
        """The bot token, or ``AirflowNotFoundException`` naming the connection and where the token goes."""
        if not self.token:
            raise AirflowNotFoundException(
                f"Airflow connection {self.conn_id!r} has no bot token: put the Slack app's "
                "Bot User OAuth Token (xoxb-...) into the connection's password field."
            )
        return self.token


def parse_settings(conn: Connection, extra: dict[str, Any]) -> ConnectionSettings:
    """The settings of ``conn`` whose extras ``extra`` were read by the caller (sync or async).

    Raises ``ValueError`` naming the connection for a ``timeout`` extra that is not a whole number.
    """
    extras = ConnectionExtraConfig(conn_type=conn.conn_type or CONN_TYPE, conn_id=conn.conn_id, extra=extra)

    def get(name: str) -> Any:
        return extras.get(name, default=None)

    return ConnectionSettings(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type,
        token=conn.password or None,
        base_url=get("base_url") or None,
        proxy=get("proxy") or None,
        timeout=_timeout(conn.conn_id, get("timeout")) or DEFAULT_TIMEOUT,
        default_channel=get("default_channel") or None,
        app_token=_text(get("app_token")),
        signing_secret=_text(get("signing_secret")),
        slack_users=get("slack_users"),
        email_domain=_text(get("email_domain")),
    )


def read_settings(conn_id: str, *, hook: BaseHook | None = None) -> ConnectionSettings:
    """Read connection ``conn_id`` (through ``hook``'s ``get_connection``, so overrides are honoured)."""
    conn = (hook or BaseHook).get_connection(conn_id)
    return parse_settings(conn, conn.extra_dejson)


async def aread_settings(conn_id: str, *, hook: BaseHook | None = None) -> ConnectionSettings:
    """:func:`read_settings` without blocking the event loop."""
    conn = await get_async_connection(conn_id, hook=hook)
    # extra_dejson would mask secrets with a blocking call: deadly in a triggerer's loop
    return parse_settings(conn, await get_async_extra_dejson(conn))


def _timeout(conn_id: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"Airflow connection {conn_id!r}: the extra 'timeout' must be a whole number of "
            f"seconds (e.g. 30), not {value!r}."
        ) from None


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None
