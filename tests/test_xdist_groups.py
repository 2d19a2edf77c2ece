"""The suite's xdist groups hold: the tests that share one real Airflow (or one browser, one run of the
docs' project) run on one worker, so that it starts once (Makefile: ``--dist loadgroup``)."""

from __future__ import annotations

import pytest

GROUP = "xdist-group-check"


@pytest.mark.xdist_group(GROUP)
def test_the_tests_of_an_xdist_group_run_on_one_worker(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run with pytest-xdist's --dist loadgroup: every test runs in this one process")
    # pytest-xdist groups a test by renaming it <nodeid>@<group>; under pytest 9.2 the rename is lost,
    # and each worker then started its own copy of the shared Airflow (pytest-dev/pytest-xdist#1386).
    assert request.node.nodeid.endswith(f"@{GROUP}"), (
        "pytest-xdist did not group this test: install the versions in constraints.txt (pytest<9.2)"
    )
