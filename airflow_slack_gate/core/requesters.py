"""Who asked: the Airflow user who started a run, and how their Slack user is found. Pure: no I/O.

A gate refuses its requester's own approval (the four-eyes rule). Unless the DAG's author names the
requester (``requested_by``), the requester is the person Airflow records as having started the run
(``dag_run.triggering_user_name``). Airflow user names are not Slack user IDs, so the sensor maps them,
in this order:

1. ``requested_by`` given in the DAG's code (a Slack user ID) wins;
2. the connection's ``slack_users`` extra: ``{"airflow user name": "U012AB3CD", ...}``;
3. the user's email, looked up in Slack (``users.lookupByEmail``): the user name itself when it is an
   email (common with OAuth and LDAP auth managers), else ``<name>@<email_domain>`` when the
   connection has an ``email_domain`` extra.

Runs that nobody started (scheduled, asset-triggered) have no requester.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_slack_gate.core.policy import is_user_id

#: Connection extra mapping Airflow user names to Slack user IDs.
SLACK_USERS_EXTRA = "slack_users"
#: Connection extra completing Airflow user names that are not emails (``alice`` -> ``alice@<domain>``).
EMAIL_DOMAIN_EXTRA = "email_domain"
#: Run types that no person started: Airflow records no triggering user for them.
UNATTENDED_RUN_TYPES = frozenset({"scheduled", "asset_triggered", "dataset_triggered"})

FoundBy = Literal["dag", "connection", "email"]


@dataclass(frozen=True)
class Requester:
    """Who asked for a gate's decision.

    ``airflow_user`` is the Airflow user who started the run (``None`` for runs nobody started, or when
    Airflow recorded nobody); ``slack_user`` is their Slack user ID when known, ``found_by`` says how
    (``"dag"``: the DAG's ``requested_by``; ``"connection"``: the ``slack_users`` extra; ``"email"``:
    ``users.lookupByEmail``). ``started_by_person`` is True for runs a person started (manual runs,
    backfills...), whether or not Airflow recorded their name.
    """

    airflow_user: str | None = None
    slack_user: str | None = None
    found_by: FoundBy | None = None
    started_by_person: bool = False

    @property
    def is_unknown(self) -> bool:
        """A person started the run, but their Slack user is not known: four eyes cannot be enforced."""
        return self.started_by_person and self.slack_user is None

    def to_dict(self) -> dict[str, Any]:
        """The record in XCom (``slack_decision["requester"]``)."""
        return {"airflow_user": self.airflow_user, "slack_user": self.slack_user, "found_by": self.found_by}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Requester:
        return cls(
            airflow_user=data.get("airflow_user"),
            slack_user=data.get("slack_user"),
            found_by=data.get("found_by"),
            started_by_person=data.get("airflow_user") is not None,
        )


def run_starter(run_type: object, triggering_user_name: str | None) -> tuple[bool, str | None]:
    """(was the run started by a person, their Airflow user name) for a DAG run."""
    kind = str(getattr(run_type, "value", run_type) or "")
    if kind in UNATTENDED_RUN_TYPES:
        return False, None
    name = (triggering_user_name or "").strip() or None
    return name is not None or kind == "manual", name


def parse_user_map(value: object, *, conn_id: str) -> dict[str, str]:
    """The ``slack_users`` extra as ``{casefolded Airflow user name: Slack user ID}``.

    Accepts a JSON object or its text (the connection form stores text); ``ValueError`` names the fix.
    """
    if value in (None, ""):
        return {}
    mapping: object = value
    if isinstance(value, str):
        try:
            mapping = json.loads(value)
        except ValueError:
            mapping = None
    example = '{"alice": "U012AB3CD", "bob@example.com": "U045EF6GH"}'
    if not isinstance(mapping, dict):
        raise ValueError(
            f"Airflow connection {conn_id!r}: the extra {SLACK_USERS_EXTRA!r} must be a JSON object mapping "
            f"Airflow user names to Slack member IDs, e.g. {example}; got {value!r}"
        )
    bad = {
        name: slack for name, slack in mapping.items() if not isinstance(name, str) or not is_user_id(slack)
    }
    if bad:
        raise ValueError(
            f"Airflow connection {conn_id!r}: the extra {SLACK_USERS_EXTRA!r} maps {sorted(map(str, bad))} "
            "to something that is not a Slack member ID (U... or W...; in Slack: profile > More > "
            f"Copy member ID), e.g. {example}"
        )
    return {name.casefold(): slack for name, slack in mapping.items()}


def mapped_slack_user(user_map: Mapping[str, str], airflow_user: str) -> str | None:
    """The Slack user ID :func:`parse_user_map` gives ``airflow_user`` (names match case-insensitively)."""
    return user_map.get(airflow_user.casefold())


def email_of(airflow_user: str, email_domain: str | None) -> str | None:
    """The email to look the Airflow user up by in Slack, or ``None`` when there is none to try."""
    if "@" in airflow_user:
        return airflow_user
    domain = (email_domain or "").strip().lstrip("@")
    return f"{airflow_user}@{domain}" if domain else None


# -- the other way: who answers (a Slack user -> the Airflow user names they may be) ------------------------


def airflow_users_for(
    slack_user: str, user_map: Mapping[str, str], *, email: str | None, email_domain: str | None
) -> tuple[tuple[str, ...], FoundBy | None]:
    """The Airflow user names a Slack user may be, by the requester's rules read backwards, and how
    they were found: the ``slack_users`` entries naming this Slack user (``"connection"``; names are
    casefolded, as :func:`parse_user_map` keeps them), else from their Slack profile email
    (``"email"``): the email itself, and its local part when the email is at the connection's
    ``email_domain`` (``alice@example.com`` -> ``alice``). A name that ``slack_users`` gives to another
    Slack user is never found by email (the map wins, as it does for requesters). Several names are
    ambiguous: the caller keeps only those that are real Airflow users, and refuses when more than one is.
    """
    mapped = tuple(sorted(name for name, slack in user_map.items() if slack == slack_user))
    if mapped:
        return mapped, "connection"
    address = (email or "").strip()
    if address.count("@") != 1 or address.startswith("@") or address.endswith("@"):
        return (), None
    names = [address]
    local, _, domain = address.partition("@")
    wanted = (email_domain or "").strip().lstrip("@")
    if wanted and domain.casefold() == wanted.casefold():
        names.append(local)
    names = [name for name in names if name.casefold() not in user_map]
    return (tuple(names), "email") if names else ((), None)
