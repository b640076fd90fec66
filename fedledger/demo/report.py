"""Write a demo report to disk: the --json document and a learning-curve PNG with the centralised baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedledger.files import write_atomic


def report_paths(directory: Path) -> dict[str, str]:
    """Where ``write_report`` writes, as absolute paths (the --json ``report_files`` names them before writing)."""
    return {
        "report_json": str((directory / "report.json").resolve()),
        "learning_curve": str((directory / "learning_curve.png").resolve()),
    }


def write_report(payload: dict[str, Any], directory: Path) -> list[Path]:
    """Write ``report.json`` and ``learning_curve.png`` into ``directory``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "report.json"
    write_atomic(json_path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())
    rounds = [0] + [r["round"] for r in payload["rounds"]]
    values = [payload["initial_metric"]["value"]] + [r["metric"]["value"] for r in payload["rounds"]]
    name = payload["initial_metric"]["name"]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(rounds, values, marker="o", label=f"federated ({payload['config']['strategy']})")
    axes.axhline(payload["baseline"]["value"], linestyle="--", color="grey", label="centralised baseline")
    axes.set_xlabel("round (0 = initial model)")
    axes.set_ylabel(f"test {name}")
    axes.set_title(
        f"fedledger: {payload['config']['dataset']}, {payload['config']['participants']} participants"
    )
    axes.legend()
    figure.tight_layout()
    png_path = directory / "learning_curve.png"
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return [json_path, png_path]
