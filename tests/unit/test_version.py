"""One version: the distribution's (pyproject.toml) and the package's ``fedledger.__version__`` never differ."""

from __future__ import annotations

import tomllib
from pathlib import Path

import fedledger

ROOT = Path(__file__).resolve().parents[2]


def test_package_version_is_the_distribution_version() -> None:
    # Prepare
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    # Execute
    declared = project.get("version")

    # Assert: a release that bumps one and not the other would tell auditors the wrong client version
    assert declared == fedledger.__version__, (
        f"pyproject.toml says {declared!r}, fedledger/__init__.py says {fedledger.__version__!r}"
    )
