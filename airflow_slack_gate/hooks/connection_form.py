"""The ``slack_gate`` connection form, defined once and rendered for every Airflow version.

Airflow 3.2+ reads ``conn-fields`` / ``ui-field-behaviour`` from the provider info; older 3.x read the
hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExtraField:
    """One extra field of the connection form."""

    name: str
    label: str
    description: str
    placeholder: str
    kind: str = "string"  # "string" | "integer" | "secret"


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "default_channel",
        "Default channel",
        "Channel ID (C0123ABCD) or name (#approvals) used when a task sets no channel.",
        "#approvals",
    ),
    ExtraField(
        "app_token",
        "App-Level Token (xapp-...)",
        "Optional. Enables Socket Mode for one-click buttons and instant wake-ups (scope connections:write).",
        "xapp-1-...",
        kind="secret",
    ),
    ExtraField(
        "signing_secret",
        "Signing Secret",
        "Optional. Verifies button clicks Slack sends to the Airflow API server's Request URL.",
        "from Basic Information > App Credentials",
        kind="secret",
    ),
    ExtraField(
        "slack_users",
        "Slack users of Airflow users",
        "Optional. JSON object mapping Airflow user names to Slack member IDs, so the person who "
        'triggers a run cannot approve it: {"alice": "U012AB3CD"}.',
        '{"alice": "U012AB3CD"}',
    ),
    ExtraField(
        "email_domain",
        "Email domain of Airflow users",
        "Optional. Finds the Slack user of an Airflow user name that is not an email as "
        "<name>@<this domain> (users.lookupByEmail); email user names are looked up as they are.",
        "example.com",
    ),
    ExtraField(
        "base_url",
        "Base URL",
        "Optional. Slack Web API base URL (default https://slack.com/api/); point it at the emulator "
        "in tests.",
        "https://slack.com/api/",
    ),
    ExtraField(
        "timeout",
        "Timeout (seconds)",
        "Optional. Seconds to wait for one Slack API response (default 30).",
        "30",
        kind="integer",
    ),
    ExtraField(
        "proxy",
        "Proxy",
        "Optional. Proxy URL for Slack API calls, e.g. http://proxy.internal:3128.",
        "http://proxy.internal:3128",
    ),
)

HIDDEN_FIELDS = ["login", "host", "port", "schema", "extra"]
PASSWORD_LABEL = "Bot User OAuth Token (xoxb-...)"  # noqa: S105 (a label, not a secret)
PASSWORD_PLACEHOLDER = "xoxb-..."  # noqa: S105 (a placeholder)


def conn_fields() -> dict[str, Any]:
    """The provider info's ``conn-fields`` (Airflow 3.2+)."""
    fields: dict[str, Any] = {}
    for field in EXTRA_FIELDS:
        value_type = "integer" if field.kind == "integer" else "string"
        schema: dict[str, Any] = {"type": [value_type, "null"]}
        if field.kind == "integer":
            schema["minimum"] = 1
        if field.kind == "secret":
            schema["format"] = "password"  # Airflow masks password-format fields as secrets
        fields[field.name] = {
            "label": field.label,
            "schema": schema,
            "description": field.description,
        }
    return fields


def ui_field_behaviour() -> dict[str, Any]:
    """The provider info's ``ui-field-behaviour`` (kebab-case keys)."""
    return {
        "hidden-fields": HIDDEN_FIELDS,
        "relabeling": {"password": PASSWORD_LABEL},
        "placeholders": _placeholders(),
    }


def legacy_ui_field_behaviour() -> dict[str, Any]:
    """The hook's ``get_ui_field_behaviour`` for Airflow versions that read it (snake_case keys)."""
    return {
        "hidden_fields": HIDDEN_FIELDS,
        "relabeling": {"password": PASSWORD_LABEL},
        "placeholders": _placeholders(),
    }


def legacy_form_widgets() -> dict[str, Any]:
    """WTForms widgets for the Flask-AppBuilder connection form (only where FAB is installed)."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, PasswordField, StringField
    from wtforms.validators import NumberRange, Optional

    widgets: dict[str, Any] = {}
    for field in EXTRA_FIELDS:
        if field.kind == "integer":
            widgets[field.name] = IntegerField(
                lazy_gettext(field.label),
                widget=BS3TextFieldWidget(),
                validators=[Optional(strip_whitespace=True), NumberRange(min=1)],
                description=field.description,
            )
        elif field.kind == "secret":
            widgets[field.name] = PasswordField(
                lazy_gettext(field.label), widget=BS3PasswordFieldWidget(), description=field.description
            )
        else:
            widgets[field.name] = StringField(
                lazy_gettext(field.label), widget=BS3TextFieldWidget(), description=field.description
            )
    return widgets


def _placeholders() -> dict[str, str]:
    return {"password": PASSWORD_PLACEHOLDER, **{field.name: field.placeholder for field in EXTRA_FIELDS}}
