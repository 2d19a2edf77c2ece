"""Typed access to a Web API call's arguments, whichever way the client sent them.

Form and query values are strings (``"true"``, ``"1"``, JSON text for ``blocks``); JSON bodies carry
real booleans, numbers, lists and objects. :class:`Params` reads both the way Slack does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_slack_gate.testing.emulator.state import SlackError

_TRUE = {"1", "true", "yes"}


class Params:
    """The merged arguments of one call (query string, then form or JSON body)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def get_str(self, name: str) -> str | None:
        """The argument as a string, or None when absent or empty."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def get_bool(self, name: str, default: bool = False) -> bool:
        """The argument as a boolean (``true``/``1`` or a JSON boolean)."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in _TRUE

    def get_int(self, name: str, default: int) -> int:
        """The argument as an integer; anything else is Slack's ``invalid_arguments``."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None

    def get_json(self, name: str, error: str) -> Any:
        """A structured argument (``blocks``, ``metadata``) given as JSON text or as JSON itself;
        Slack's ``error`` when the text is no JSON."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) from None
