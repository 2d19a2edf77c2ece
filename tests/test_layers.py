"""The package's layers, as the tree shows them, and the import paths users rely on.

- ``core/`` is pure: it imports only the standard library and ``core`` itself (no I/O modules, no
  Airflow, no slack_sdk);
- ``hooks/`` (Slack and the connection) imports ``core`` but no per-loop service or Airflow-facing class;
- ``runtime/`` (the per-triggerer-loop services) imports ``core`` and ``hooks`` only;
- ``notifiers/`` (Airflow notifiers) imports ``core`` and ``hooks`` only;
- ``testing/`` (emulator, Airflow runner, demo) is imported by nothing outside it but the console
  command.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import airflow_slack_gate
from tests.support import build_wheel

PACKAGE = Path(airflow_slack_gate.__file__).parent
IO_MODULES = {
    "socket",
    "asyncio",
    "aiohttp",
    "requests",
    "urllib",
    "http",
    "subprocess",
    "threading",
    "sqlite3",
}
#: What each layer may import from the package (by top-level subpackage or module).
MAY_IMPORT = {
    "core": {"core"},
    "hooks": {"core", "hooks"},
    "runtime": {"core", "hooks", "runtime"},
    # thin Airflow-facing classes: the notifier asks through hooks (never the per-loop services)
    "notifiers": {"core", "hooks", "notifiers"},
}
#: The only module outside testing/ that imports it: the console command, lazily (the deprecated old
#: paths forward by name, without an import statement).
TESTING_IMPORTERS = {"cli.py"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def package_layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "airflow_slack_gate" and len(parts) > 1 else None


def modules_of(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_each_layer_imports_only_the_layers_beneath_it(layer):
    wrong = {}
    for path in modules_of(layer):
        for module in imports_of(path):
            imported = package_layer(module)
            if imported and imported not in MAY_IMPORT[layer] and module != "airflow_slack_gate":
                wrong.setdefault(path.name, set()).add(module)
    assert wrong == {}


def test_core_is_pure():
    impure = {}
    for path in modules_of("core"):
        for module in imports_of(path):
            top = module.split(".")[0]
            if top in {"airflow", "slack_sdk"} | IO_MODULES:
                impure.setdefault(path.name, set()).add(module)
    assert impure == {}


def test_nothing_outside_testing_imports_the_test_kit():
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] != "testing"
        and any(package_layer(module) == "testing" for module in imports_of(path))
    }
    assert importers == TESTING_IMPORTERS


OLD_PATHS = """
import warnings
warnings.simplefilter("error", DeprecationWarning)
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.operators.slack import SlackPostOperator
from airflow_slack_gate.sensors.slack import SlackApprovalSensor
from airflow_slack_gate.triggers.slack import SlackApprovalTrigger
from airflow_slack_gate.links import SlackMessageLink
from airflow_slack_gate.interactive.plugin import SlackGatePlugin
from airflow_slack_gate.testing.emulator import SlackEmulator
from airflow_slack_gate.testing import pytest_plugin
from airflow_slack_gate.get_provider_info import get_provider_info
for old, name in [("decisions", "ApprovalPolicy"), ("decisions", "decide"), ("decisions", "read_reply"),
                  ("emulator", "SlackEmulator"), ("errors", "SlackGateError"),
                  ("airflow_runner", "AirflowRunner")]:
    try:
        exec(f"from airflow_slack_gate.{old} import {name}")
    except DeprecationWarning as warning:
        assert "instead" in str(warning), warning
    else:
        raise AssertionError(f"airflow_slack_gate.{old} did not warn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(f"from airflow_slack_gate.{old} import {name}")
import airflow_slack_gate
print(airflow_slack_gate.__file__)
"""


def test_the_wheel_carries_the_emulator_and_its_documented_imports_work(tmp_path):
    """Built and installed like a user's: every documented import works from the wheel alone, and the
    old paths still import, with a warning naming the new one."""
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "airflow_slack_gate/testing/emulator/emulator.py" in names
    assert "airflow_slack_gate/testing/demo_dags/slack_approve_deploy.py" in names
    assert "airflow_slack_gate/py.typed" in names
    assert "airflow_slack_gate/testing/emulator/page.html" in names  # the emulator's Slack page
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    # The editable install of the checkout is a meta-path finder: drop it so only the wheel is seen.
    script = (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]\n"
        f"sys.path.insert(0, {str(target)!r})\n" + OLD_PATHS
    )
    env = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(target))
