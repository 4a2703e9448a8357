"""The layer rule: pyproject's import-linter contracts pass on the tree, and fail, naming
the contract, when a forbidden import is planted in a copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The command ./dev lint runs, from the environment running the tests.
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

Lint = subprocess.CompletedProcess[str]


def contract_names() -> dict[str, str]:
    """Contract id -> name, as [tool.importlinter] declares them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract["name"] for contract in config["contracts"]}


def lint_imports(root: Path) -> Lint:
    """lint-imports in ``root``: it puts its working directory first on the import path,
    so it analyses the packages found there (a copy), not the installed ones."""
    # Wide enough that rich does not wrap a contract's name over two lines.
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def plant(tmp_path: Path) -> Callable[[str, str], Lint]:
    """Copy server/, pipelines/ and pyproject.toml, add one line to one module, lint."""
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("server", "pipelines"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    def planted(module: str, line: str) -> Lint:
        path = tmp_path / (module.replace(".", "/") + ".py")
        path.write_text(path.read_text() + f"\n{line}  # planted by tests/test_layers.py\n")
        return lint_imports(tmp_path)

    return planted


def assert_broken(result: Lint, contract: str, chain: str) -> None:
    name = contract_names()[contract]
    report = result.stdout + result.stderr
    assert result.returncode != 0, f"lint-imports passed with a planted import:\n{report}"
    assert f"{name} BROKEN" in report, report
    assert chain in report, report


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    for name in contract_names().values():
        assert f"{name} KEPT" in report, report


def test_pipelines_importing_the_server_fails(plant: Callable[[str, str], Lint]) -> None:
    result = plant("pipelines.contract", "import server.ids")
    assert_broken(result, "pipelines-alone", "pipelines.contract -> server.ids")


def test_pipelines_importing_the_web_framework_fails(plant: Callable[[str, str], Lint]) -> None:
    result = plant("pipelines.images", "import starlette.responses")
    assert_broken(result, "pipelines-alone", "pipelines.images -> starlette")


def test_server_importing_torch_fails(plant: Callable[[str, str], Lint]) -> None:
    result = plant("server.state.keys", "import torch")
    assert_broken(result, "server-no-gpu", "server.state.keys -> torch")


def test_server_reaching_torch_through_the_pipelines_fails(
    plant: Callable[[str, str], Lint],
) -> None:
    # The contract is what both sides share; the generator is GPU code.
    result = plant("server.state.keys", "import pipelines.generator")
    assert_broken(result, "server-no-gpu", "server.state.keys -> pipelines.generator")


def test_state_importing_the_api_fails(plant: Callable[[str, str], Lint]) -> None:
    result = plant("server.state.keys", "import server.api.schema")
    assert_broken(result, "state-below", "server.state.keys -> server.api.schema")


def test_only_the_commands_reach_the_gpu_stack() -> None:
    """An ignored import is a lazy one in a command that starts or times a worker
    (tests/test_deploy.py imports those modules with the GPU stack blocked); a stale one
    fails lint, as import-linter's default says."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = config["contracts"]
    ignored = [entry for contract in contracts for entry in contract.get("ignore_imports", [])]
    assert {entry.split(" -> ")[0] for entry in ignored} <= {"server.cli", "server.ops.doctor"}
    assert not [c["id"] for c in contracts if "unmatched_ignore_imports_alerting" in c]
