"""`fedledger demo`: run the embedded federation and show it as a table, JSON and optionally a report."""

from __future__ import annotations

from pathlib import Path

from fedledger import output
from fedledger.demo import DemoConfig, run_demo
from fedledger.report import write_report


def demo(
    participants: int,
    rounds: int,
    dataset: str,
    strategy: str,
    seed: int,
    report_dir: Path | None,
    as_json: bool,
) -> None:
    config = DemoConfig(
        participants=participants, rounds=rounds, dataset=dataset, strategy=strategy, seed=seed
    )
    with output.progress(not as_json) as show:
        report = run_demo(config, show)
    payload = report.to_json()
    written = write_report(payload, report_dir) if report_dir else []
    if as_json:
        output.emit_json(payload)
        return
    metric = report.initial_metric["name"]
    output.table(
        f"fedledger demo: {dataset}, {participants} participants, {report.config['strategy']}, task "
        f"{report.task_id} at {report.contract}",
        ["round", "included", "global digest", metric, "gas submit (mean)", "gas finalize", "seconds"],
        [
            [
                r.round,
                r.included,
                output.short(r.global_digest, 18),
                f"{r.metric['value']:.4f}",
                r.gas["submit_mean"],
                r.gas["finalize"],
                f"{r.seconds:.1f}",
            ]
            for r in report.rounds
        ],
    )
    output.say(
        f"initial model {metric}: {report.initial_metric['value']:.4f}; centralised baseline: "
        f"{report.baseline['value']:.4f}"
    )
    audit = report.audit
    verdict = "OK" if audit["ok"] else "MISMATCH"
    output.say(
        f"audit: {verdict}, {audit['verified_rounds']} of {len(report.rounds)} rounds re-derived "
        f"bit for bit from the chain and the content store"
    )
    for row in audit["rounds"]:
        if row["verdict"] == "MISMATCH":
            output.say(f"  round {row['round']}: {row['verdict']}: {row['reason']}")
    for path in written:
        output.say(f"wrote {path}")
    output.say(f"done in {report.wall_seconds:.1f} s")
