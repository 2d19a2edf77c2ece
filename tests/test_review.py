"""require_approved: an approval counts only for exactly the digest it was given for."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_slack_gate.verify import require_approved

APPROVED = {
    "approved": True,
    "outcome": "approved",
    "review_digest": "sha256:aaa",
    "dag_id": "deploy_model",
    "task_id": "ask",
    "permalink": "https://example.slack.com/archives/C1/p1",
}


def test_an_approval_of_exactly_this_digest_passes():
    require_approved(APPROVED, "sha256:aaa")


@pytest.mark.parametrize(
    ("decision", "digest", "said"),
    [
        (APPROVED, "sha256:bbb", "approved 'sha256:aaa', but you are about to act on 'sha256:bbb'"),
        (APPROVED, "sha256:aaa ", "you are about to act on 'sha256:aaa '"),  # exact strings
        (APPROVED, "SHA256:AAA", "you are about to act on 'SHA256:AAA'"),
        ({**APPROVED, "approved": False, "outcome": "rejected"}, "sha256:aaa", "outcome 'rejected'"),
        ({**APPROVED, "outcome": "timed_out"}, "sha256:aaa", "outcome 'timed_out'"),  # on_timeout=approve
        ({**APPROVED, "review_digest": None}, "sha256:aaa", "approved without a review digest"),
        (None, "sha256:aaa", "there is no decision record"),
        ("True", "sha256:aaa", "there is no decision record"),
        (True, "sha256:aaa", "there is no decision record"),  # the gate's return value, not its record
        (APPROVED, None, "not a non-empty string"),
        (APPROVED, "", "not a non-empty string"),
    ],
)
def test_anything_else_fails_the_task_and_says_why(decision, digest, said):
    with pytest.raises(AirflowFailException, match="Not approved to act") as raised:
        require_approved(decision, digest)
    assert said in str(raised.value)


def test_the_failure_names_the_gate():
    with pytest.raises(AirflowFailException, match=r"gate deploy_model\.ask \(https://example.slack.com"):
        require_approved(APPROVED, "sha256:bbb")
