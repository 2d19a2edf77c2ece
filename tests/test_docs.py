"""The docs say what the code does: their samples run, their tables match the code, their links resolve.

- Every ```python block in docs/*.md compiles. Blocks without a ``# file:`` header run here (their
  asserts are checked; DAGs they define must validate); blocks with one are files of a small user
  project (a DAG, a conftest, tests), whose tests run with pytest in a subprocess, as a user would.
- The parameter tables match the operators' signatures, defaults and template fields; the
  connection table matches the form; the troubleshooting tables cover every error code the
  package reports; the XCom tables match what a real gate pushes.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import airflow_slack_gate
import airflow_slack_gate.runtime.socket_mode
from airflow_slack_gate.core import errors, manifest
from airflow_slack_gate.hooks import connection_form
from airflow_slack_gate.operators.slack import SlackPostOperator
from airflow_slack_gate.sensors.slack import SlackApprovalSensor

REPO = Path(airflow_slack_gate.__file__).parent.parent
DOCS = REPO / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), REPO / "README.md"]
FILE_HEADER = "# file: "
REQUIRED_PAGES = {
    "index.md",
    "quickstart.md",
    "decisions.md",
    "parameters.md",
    "xcom.md",
    "troubleshooting.md",
    "security.md",
    "scaling.md",
    "testing.md",
}


# -- reading markdown ---------------------------------------------------------------------------------


def python_blocks(page: Path) -> Iterator[tuple[int, str]]:
    """(line number, code) of each ```python block."""
    lines = page.read_text().splitlines()
    start = None
    for number, line in enumerate(lines, 1):
        if start is None and line.strip() == "```python":
            start = number
        elif start is not None and line.strip() == "```":
            yield start + 1, "\n".join(lines[start : number - 1]) + "\n"
            start = None


def all_blocks() -> list[tuple[Path, int, str]]:
    return [(page, line, code) for page in PAGES for line, code in python_blocks(page)]


def block_id(block: tuple[Path, int, str]) -> str:
    return f"{block[0].name}:{block[1]}"


def project_files() -> dict[str, str]:
    """Blocks with a ``# file: <path>`` header: the files of the docs' example project."""
    files = {}
    for _, _, code in all_blocks():
        first = code.splitlines()[0]
        if first.startswith(FILE_HEADER):
            files[first[len(FILE_HEADER) :].strip()] = code
    return files


def table_after(page: Path, heading: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first table after the heading line ``heading``."""
    lines = page.read_text().splitlines()
    index = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[index + 1 :]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header row


def code_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.lstrip("#").strip().lower().replace("`", "")
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))


# -- the samples ----------------------------------------------------------------------------------------


def test_every_page_exists_and_has_samples():
    assert {page.name for page in PAGES} >= REQUIRED_PAGES
    assert len(all_blocks()) >= 10


@pytest.mark.parametrize("block", all_blocks(), ids=block_id)
def test_python_block_compiles(block):
    page, line, code = block
    compile(code, f"{page}:{line}", "exec")


STANDALONE = [block for block in all_blocks() if not block[2].startswith(FILE_HEADER)]
DAG_FILES = [block for block in all_blocks() if block[2].startswith(FILE_HEADER + "dags/")]


@pytest.mark.parametrize("block", STANDALONE + DAG_FILES, ids=block_id)
def test_sample_runs_and_its_dags_validate(block):
    from airflow.sdk import DAG

    page, line, code = block
    namespace: dict = {"__name__": f"docs_{page.stem}_{line}"}
    exec(compile(code, f"{page}:{line}", "exec"), namespace)
    for dag in (value for value in namespace.values() if isinstance(value, DAG)):
        assert dag.task_dict, f"{dag.dag_id} has no tasks"
        dag.validate()
        dag.check_cycle()


def test_docs_dag_files_define_dags():
    assert DAG_FILES, "the quickstart's DAG file is missing"


PROBE = """
import json
import os
from pathlib import Path

from test_deploy_with_approval import answer_when_asked, run_dag


def test_zz_record_the_xcoms_for_the_docs_check(slack_emulator):
    answer_when_asked(slack_emulator, slack_emulator.workspace.bob, "reject: the probe says no")
    dag_run, tis = run_dag("deploy_with_approval")
    keys = ("return_value", "slack_message", "slack_decision")
    xcoms = {key: tis["ask"].xcom_pull(task_ids="ask", key=key) for key in keys}
    Path(os.environ["DOCS_XCOM_PROBE"]).write_text(json.dumps(xcoms))
"""


@pytest.fixture(scope="module")
def docs_project_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The docs' example project, run with pytest in a subprocess (its own Airflow home), plus a
    probe test that records the XComs of a real gate."""
    root = tmp_path_factory.mktemp("docs-project")
    for relative, code in project_files().items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(code)
    (root / "tests" / "test_zz_probe.py").write_text(PROBE)
    (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    probe = root / "xcoms.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PYTEST"))}
    env["DOCS_XCOM_PROBE"] = str(probe)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return {
        "returncode": result.returncode,
        "output": result.stdout + result.stderr,
        "xcoms": json.loads(probe.read_text()) if probe.exists() else None,
    }


@pytest.mark.xdist_group("docs-project")  # one run of the docs' project
def test_the_testing_pages_project_passes(docs_project_run):
    assert {"dags/deploy_with_approval.py", "tests/conftest.py", "tests/test_deploy_with_approval.py"} <= set(
        project_files()
    )
    assert docs_project_run["returncode"] == 0, docs_project_run["output"]
    assert re.search(r"\b4 passed\b", docs_project_run["output"]), docs_project_run["output"]


TYPES = {"bool": (bool,), "str": (str,), "str or None": (str, type(None)), "dict": (dict,)}


def assert_matches_table(value: dict, rows: list[list[str]], what: str) -> None:
    documented = {code_names(row[0])[0]: row[1] for row in rows}
    assert set(value) == set(documented), f"{what}: documented {sorted(documented)}, pushed {sorted(value)}"
    for key, kind in documented.items():
        if kind.startswith("list of "):
            item = {"dict": dict, "str": str}[kind.removeprefix("list of ")]
            assert isinstance(value[key], list), (what, key, value[key])
            assert all(isinstance(v, item) for v in value[key]), (what, key, value[key])
        else:
            assert isinstance(value[key], TYPES[kind]), (what, key, value[key])


@pytest.mark.xdist_group("docs-project")  # one run of the docs' project
def test_xcom_tables_match_a_real_gate(docs_project_run):
    xcoms = docs_project_run["xcoms"]
    assert xcoms is not None, docs_project_run["output"]
    page = DOCS / "xcom.md"
    assert xcoms["return_value"] is False
    assert_matches_table(xcoms["slack_message"], table_after(page, "### `slack_message`"), "slack_message")
    decision = xcoms["slack_decision"]
    assert_matches_table(decision, table_after(page, "### `slack_decision`"), "slack_decision")
    assert decision["votes"], decision
    for vote in decision["votes"]:
        assert_matches_table(vote, table_after(page, "#### Each vote"), "a vote")
    assert_matches_table(decision["requester"], table_after(page, "#### The requester"), "the requester")
    outcome_row = next(row for row in table_after(page, "### `slack_decision`") if row[0] == "`outcome`")
    assert re.findall(r'"(\w+)"', outcome_row[2]) == ["approved", "rejected", "timed_out"]
    assert decision["outcome"] == "rejected"


# -- the tables -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "operator"),
    [("## SlackPostOperator", SlackPostOperator), ("## SlackApprovalSensor", SlackApprovalSensor)],
)
def test_parameter_tables_match_the_signatures(heading, operator):
    rows = table_after(DOCS / "parameters.md", heading)
    documented = {code_names(row[0])[0]: row for row in rows}
    signature = inspect.signature(operator.__init__)
    parameters = {name: p for name, p in signature.parameters.items() if name not in ("self", "kwargs")}
    assert list(documented) == list(parameters), "document every parameter, in the signature's order"
    for name, (_, default, templated, description) in documented.items():
        actual = parameters[name].default
        if actual is inspect.Parameter.empty:
            assert default == "required", name
        else:
            assert eval(code_names(default)[0], {"timedelta": timedelta}) == actual, name
        assert templated == ("yes" if name in operator.template_fields else "no"), name
        assert description, name


def test_connection_table_matches_the_form():
    rows = table_after(DOCS / "parameters.md", "## The connection")
    documented = {code_names(row[0])[0]: row for row in rows}
    expected = {"password": connection_form.PASSWORD_LABEL} | {
        f.name: f.label for f in connection_form.EXTRA_FIELDS
    }
    assert {name: row[1] for name, row in documented.items()} == expected
    for field in connection_form.EXTRA_FIELDS:
        assert ("secret" in documented[field.name][2]) == (field.kind == "secret"), field.name
    for hidden in connection_form.HIDDEN_FIELDS[:-1]:  # "extra" is the JSON, edited through the fields
        assert hidden in (DOCS / "parameters.md").read_text()


def _strings(node: ast.AST) -> tuple[set[str], set[str]]:
    """String constants under ``node``: (plain ones, those inside f-strings)."""
    in_fstrings = {id(c) for f in ast.walk(node) if isinstance(f, ast.JoinedStr) for c in ast.walk(f)}
    plain, formatted = set(), set()
    for constant in ast.walk(node):
        if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
            (formatted if id(constant) in in_fstrings else plain).add(constant.value)
    return plain, formatted


def _is_code(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and "code" in node.id


def reported_error_codes() -> tuple[set[str], set[str]]:
    """(codes, prefixes) the package can report: errors.py's sets, the codes its fixes test for,
    and the codes the hook derives or raises (``code = ...``, ``explain("...")``)."""
    codes = set(errors.TOKEN_ERRORS | errors.PERMANENT_ERRORS | errors.BUTTON_ERRORS)
    prefixes: set[str] = set()
    for module in (errors, airflow_slack_gate.hooks.slack, airflow_slack_gate.runtime.socket_mode):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Compare) and _is_code(node.left):
                codes |= _strings(node)[0]
            elif isinstance(node, ast.Assign) and any(_is_code(target) for target in node.targets):
                plain, formatted = _strings(node.value)
                codes |= plain - {"error"}  # data.get("error") reads the code, it is not one
                prefixes |= formatted
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "startswith" and _is_code(node.func.value):
                    prefixes |= _strings(node)[0]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "explain" and node.args:
                codes |= _strings(node.args[0])[0]
    return codes, prefixes


def test_troubleshooting_covers_every_error_code_and_says_which_end_a_gate():
    page = DOCS / "troubleshooting.md"
    rows = [
        row for line in page.read_text().splitlines() if line.startswith("| `") for row in [line.split(" | ")]
    ]
    documented = {code: row[1] for row in rows for code in code_names(row[0])}
    codes, prefixes = reported_error_codes()
    assert {"invalid_auth", "not_in_channel", "missing_scope", "ratelimited", "connection_error"} <= codes
    assert codes - set(documented) == set(), "document these error codes in troubleshooting.md"
    for prefix in prefixes:
        assert any(code.startswith(prefix) for code in documented), prefix
    for code, waiting in documented.items():
        expected = (
            "ends the gate"
            if code in errors.PERMANENT_ERRORS
            else "keeps waiting"
            if code in errors.BUTTON_ERRORS | errors.VOTER_ERRORS
            else "retried"
        )
        assert waiting == expected, code


def test_quickstart_scope_table_is_the_manifest():
    rows = table_after(DOCS / "quickstart.md", "## 1. Create the Slack app from the manifest")
    scopes = {code_names(row[0])[0]: sorted(code_names(row[1])) for row in rows}
    assert sorted(scopes) == manifest.bot_scopes()
    for scope, methods in scopes.items():
        assert methods == sorted(m for m in manifest.USED_METHODS if scope in manifest.METHOD_SCOPES[m]), (
            scope
        )


# -- links ----------------------------------------------------------------------------------------------


def test_relative_links_and_anchors_resolve():
    anchors = {
        page.resolve(): {slug(line) for line in page.read_text().splitlines() if line.startswith("#")}
        for page in PAGES
    }
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page.resolve()
            if not linked.exists() or (anchor and anchor not in anchors.get(linked, set())):
                broken.append(f"{page.name}: {target}")
    assert broken == []


def test_every_test_the_threat_model_names_exists():
    """The threat model's last column names the tests that try each attack: each must be a test."""
    page = (DOCS / "security.md").read_text()
    table = page.partition("## Threat model\n")[2].partition("\n## ")[0]
    rows = [row for row in table.splitlines() if row.startswith("| ") and not row.startswith("| Attacker")]
    assert len(rows) >= 30, "the threat model table is missing rows"
    defined = {
        match
        for path in (REPO / "tests").rglob("test_*.py")
        for match in re.findall(r"^\s*(?:async )?def (test_\w+)", path.read_text(), re.M)
    }
    missing = set()
    for row in rows:
        cell = row.rsplit("|", 2)[-2]
        modules = re.findall(r"(tests/[\w/]+\.py)", cell)
        named = re.findall(r"\b(test_\w+)\b(?!\.py)", re.sub(r"tests/[\w/]+\.py", "", cell))
        assert named or modules, f"a threat-model row names no test: {row[:80]}"
        missing |= {name for name in named if name not in defined}
        missing |= {module for module in modules if not (REPO / module).is_file()}
    assert not missing, f"the threat model names tests that do not exist: {sorted(missing)}"
