"""What a gate was asked to approve: its review digest, checked before it is asked, and the check a deploy
task makes before it acts (an approval counts only for exactly the digest it was given for). Pure."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

#: The longest review digest a gate accepts (a sha256 image digest with its prefix is 71 characters).
REVIEW_DIGEST_LIMIT = 200
#: What ``{{ ti.xcom_pull(...) }}`` renders when the upstream XCom is missing, and an empty render.
_MISSING = ("", "None")


def review_digest_problem(value: Any) -> str | None:
    """Why a rendered ``review_digest`` cannot be asked about (``None``: it can).

    A digest comes from data (an upstream XCom), so it must be one short line of printable text: no
    newlines or other control characters (a line break could make the question show two things), no
    backticks (it is shown as code), at most :data:`REVIEW_DIGEST_LIMIT` characters, and never empty or
    ``"None"``, which is what a template renders when the upstream XCom is missing: a gate must not ask
    for approval of nothing.
    """
    if not isinstance(value, str):
        return (
            f"review_digest rendered to a {type(value).__name__} ({value!r}), not a string: render the "
            "digest as text, e.g. \"{{ ti.xcom_pull('build', key='image_digest') }}\""
        )
    if value.strip() in _MISSING:
        return (
            f"review_digest rendered to {value!r}: the upstream XCom it reads is missing (a template "
            "renders 'None' for a missing XCom). Make the upstream task push the digest (check its "
            "task_id and key in the template), or leave review_digest unset"
        )
    if len(value) > REVIEW_DIGEST_LIMIT:
        return (
            f"review_digest is {len(value)} characters long; at most {REVIEW_DIGEST_LIMIT} are allowed: "
            "pass a digest (e.g. 'sha256:...') of what is reviewed, not the thing itself"
        )
    if any(unicodedata.category(char).startswith("C") for char in value):
        return (
            f"review_digest {value!r} holds a newline or another control or invisible character: pass one "
            'line of printable text (strip the upstream value, e.g. "{{ ... | trim }}")'
        )
    if "`" in value:
        return f"review_digest {value!r} holds a backtick, which cannot be shown as code in Slack"
    if value != value.strip():
        return f'review_digest {value!r} starts or ends with white space: strip it ("{{{{ ... | trim }}}}")'
    return None


def approval_problem(decision: Any, digest: Any) -> str | None:
    """Why ``decision`` (a gate's decision record, XCom ``slack_decision``) does not approve exactly
    ``digest`` (``None``: it does). Digests are compared as exact strings."""
    if not isinstance(digest, str) or not digest:
        return f"the digest to check is {digest!r}, not a non-empty string: pass the digest you act on"
    if not isinstance(decision, Mapping) or "outcome" not in decision or "approved" not in decision:
        return (
            f"there is no decision record ({type(decision).__name__} {str(decision)[:80]!r}): pass the "
            "gate's XCom 'slack_decision', e.g. ti.xcom_pull(task_ids='ask', key='slack_decision'); it is "
            "missing when the gate did not decide (a Slack error, or it never ran in this run)"
        )
    gate = _gate_name(decision)
    if decision.get("approved") is not True or decision.get("outcome") != "approved":
        outcome = decision.get("outcome")
        return f"{gate} was not approved (outcome {outcome!r}): nothing was approved to act on"
    approved = decision.get("review_digest")
    if not isinstance(approved, str) or not approved:
        return (
            f"{gate} was approved without a review digest, so it says nothing about {digest!r}: set "
            "review_digest on the gate so people approve exactly what you act on"
        )
    if approved != digest:
        return (
            f"{gate} approved {approved!r}, but you are about to act on {digest!r}: what is deployed is not "
            "what was reviewed. Run the gate again for the new digest"
        )
    return None


def _gate_name(decision: Mapping[str, Any]) -> str:
    task = ".".join(str(decision[key]) for key in ("dag_id", "task_id") if decision.get(key))
    where = decision.get("permalink") or decision.get("ts") or ""
    name = f"gate {task}" if task else "the gate"
    return f"{name} ({where})" if where else name
