"""Slack's published Web API schema (OpenAPI 2, archived 2020; MIT, licence beside it), ready to validate.

The copy lives here so a fresh clone can run the tests. ``DEVIATIONS`` lists where today's Slack
(and so the emulator) differs from the 2020 schema; each is applied as a minimal patch, with its reason.
Everything else is validated strictly (JSON Schema draft 4, as Swagger 2 uses).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SCHEMA_FILE = Path(__file__).with_name("slack-web-api-openapi-v2.json")

#: Fields today's Slack puts on messages that the 2020 ``objs_message`` does not list.
MESSAGE_FIELDS_ADDED = {
    "app_id": {"$ref": "#/definitions/defs_app_id"},  # bot messages carry their app id
    "edited": {  # edited messages carry who edited and when
        "type": "object",
        "required": ["user", "ts"],
        "properties": {
            "user": {"$ref": "#/definitions/defs_user_id"},
            "ts": {"$ref": "#/definitions/defs_ts"},
        },
    },
    "root": {"$ref": "#/definitions/objs_message"},  # a thread_broadcast reply shows its thread's parent
    "metadata": {  # message metadata, returned with include_all_metadata=true
        "type": "object",
        "required": ["event_type", "event_payload"],
        "properties": {"event_type": {"type": "string"}, "event_payload": {"type": "object"}},
    },
}

#: Error codes today's Slack returns that the 2020 error enums miss, per method.
AUTH_ERRORS = {"token_revoked", "account_inactive", "invalid_auth", "not_authed"}
SCOPE_ERRORS = {"missing_scope"}
ERRORS_ADDED: dict[str, set[str]] = {
    "chat.postMessage": AUTH_ERRORS | SCOPE_ERRORS | {"thread_not_found", "invalid_blocks"},
    "chat.update": SCOPE_ERRORS | {"invalid_blocks"},
    "chat.getPermalink": set(),
    "conversations.history": AUTH_ERRORS | {"not_in_channel", "invalid_cursor"},
    "conversations.replies": AUTH_ERRORS | {"not_in_channel", "invalid_cursor"},
    "conversations.info": AUTH_ERRORS,
    "conversations.list": AUTH_ERRORS | {"invalid_cursor", "invalid_types"},
    "reactions.get": AUTH_ERRORS | SCOPE_ERRORS | {"channel_not_found"},
    "users.info": AUTH_ERRORS | SCOPE_ERRORS,
    "users.lookupByEmail": AUTH_ERRORS | SCOPE_ERRORS,
    "usergroups.users.list": SCOPE_ERRORS | {"no_such_subteam"},
    "auth.test": set(),
}


class SlackSchema:
    """Validators for the 200 (success) and ``default`` (``ok: false``) responses of each method."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def _operation(self, method: str) -> dict[str, Any]:
        path = self.spec["paths"][f"/{method}"]
        return path.get("get") or path["post"]

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft4Validator:
        """A draft-4 validator for ``schema`` whose ``#/definitions/...`` refs resolve in the spec."""
        root = {**schema, "definitions": self.spec["definitions"]}
        return jsonschema.Draft4Validator(root, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)

    def success(self, method: str) -> dict[str, Any]:
        """The schema of the method's HTTP 200 (``ok: true``) response."""
        return self._operation(method)["responses"]["200"]["schema"]

    def error(self, method: str) -> dict[str, Any]:
        """The schema of the method's ``ok: false`` response (Slack sends it with HTTP 200)."""
        return self._operation(method)["responses"]["default"]["schema"]

    def validate(self, method: str, body: dict[str, Any]) -> None:
        """Validate a response body against the success or error schema, by its ``ok``."""
        schema = self.success(method) if body["ok"] else self.error(method)
        self.validator(schema).validate(body)

    def definition(self, name: str) -> dict[str, Any]:
        """A schema from ``definitions`` (e.g. ``objs_conversation``)."""
        return self.spec["definitions"][name]


def apply_deviations(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of the spec with the documented deviations of today's Slack applied."""
    spec = copy.deepcopy(spec)
    definitions = spec["definitions"]
    definitions["objs_message"]["properties"].update(MESSAGE_FIELDS_ADDED)
    schema = SlackSchema(spec)
    for method, codes in ERRORS_ADDED.items():
        error = schema.error(method)
        error["properties"]["error"]["enum"].extend(sorted(codes - set(error["properties"]["error"]["enum"])))
        # missing_scope answers carry needed/provided, which some 2020 error schemas forbid.
        error["properties"].setdefault("needed", {"type": "string"})
        error["properties"].setdefault("provided", {"type": "string"})
    for method in ("chat.postMessage", "chat.update"):
        # invalid_blocks answers say what is wrong, in errors and response_metadata.messages.
        error = schema.error(method)["properties"]
        error["errors"] = {"type": "array", "items": {"type": "string"}}
        error["response_metadata"] = {
            "type": "object",
            "required": ["messages"],
            "properties": {"messages": {"type": "array", "items": {"type": "string"}}},
        }
    for method in ("conversations.history", "conversations.replies"):
        # Slack paginates these with response_metadata.next_cursor; the 2020 schema forbids it.
        schema.success(method)["properties"]["response_metadata"] = {
            "type": "object",
            "required": ["next_cursor"],
            "properties": {"next_cursor": {"type": "string"}},
        }
    # An empty channel's history is "messages": [] in Slack; the 2020 schema demands one or more.
    del schema.success("conversations.history")["properties"]["messages"]["minItems"]
    # conversations.replies' parent and reply schemas list only a person's plain-text message; Slack
    # returns bot fields, blocks, reactions and edits there as on any message.
    message_props = definitions["objs_message"]["properties"]
    for item in schema.success("conversations.replies")["properties"]["messages"]["items"]["items"]:
        for name, prop in message_props.items():
            item["properties"].setdefault(name, prop)
    # chat.update returns the message's blocks as an array, like every other method; 2020 says object.
    schema.success("chat.update")["properties"]["message"]["properties"]["blocks"] = {
        "$ref": "#/definitions/blocks"
    }
    return spec


@pytest.fixture(scope="session")
def published_schema() -> SlackSchema:
    """The schema exactly as published."""
    return SlackSchema(json.loads(SCHEMA_FILE.read_text()))


@pytest.fixture(scope="session")
def slack_schema(published_schema: SlackSchema) -> SlackSchema:
    """The published schema with :data:`ERRORS_ADDED`, :data:`MESSAGE_FIELDS_ADDED` and friends applied."""
    return SlackSchema(apply_deviations(published_schema.spec))
