"""One version: ``fedledger.__version__`` is the source; pyproject.toml reads it, and the installed distribution
reports it."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

import fedledger

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_takes_its_version_from_the_package() -> None:
    # Prepare
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

    # Execute
    project, dynamic = pyproject["project"], pyproject["tool"]["setuptools"].get("dynamic", {})

    # Assert: no second literal to forget when releasing
    assert "version" not in project and "version" in project.get("dynamic", [])
    assert dynamic.get("version") == {"attr": "fedledger.__version__"}


def test_installed_distribution_reports_the_package_version() -> None:
    # Prepare
    try:
        installed = importlib.metadata.version("fedledger")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fedledger is not installed in this environment (only on PYTHONPATH)")

    # Assert: a release whose metadata disagreed would tell auditors the wrong client version
    assert installed == fedledger.__version__
