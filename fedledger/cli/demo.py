"""`fedledger demo`: run the embedded federation and show it as a table, JSON and optionally a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedledger.cli import output
from fedledger.cli.options import JsonOpt, require_extra, run_command


def demo(
    participants: Annotated[
        int, typer.Option(min=1, max=256, help="Participants (each its own data slice).")
    ] = 4,
    rounds: Annotated[int, typer.Option(min=1, help="Federated rounds.")] = 5,
    dataset: Annotated[
        str, typer.Option(help="bikes (UCI bike sharing, RMSE), digits or mnist (accuracy).")
    ] = "bikes",
    strategy: Annotated[str, typer.Option(help="Aggregation rule, e.g. fedavg or fedsgd:lr=0.3.")] = "fedavg",
    seed: Annotated[int, typer.Option(help="Seed for data split, initial model and training.")] = 0,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Also write the audit page (index.html, index.json), report.json, learning_curve.png and the "
            "store here; their paths are printed (and under report_files with --json)."
        ),
    ] = None,
    privacy: Annotated[
        str | None,
        typer.Option(
            help="secagg: private rounds (secure aggregation with a public transcript; README, Private rounds)."
        ),
    ] = None,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(
            help="With --privacy: add distributed DP noise so that all the rounds spend at most this epsilon "
            "(at delta 1e-5).",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Run a whole federation on the embedded chain and store, then audit every round."""
    run_command(
        lambda: _demo(participants, rounds, dataset, strategy, seed, report, json_, privacy, dp_epsilon)
    )


def _demo(
    participants: int,
    rounds: int,
    dataset: str,
    strategy: str,
    seed: int,
    report_dir: Path | None,
    as_json: bool,
    privacy: str | None = None,
    dp_epsilon: float | None = None,
) -> None:
    require_extra("demo", "`fedledger demo`")
    from fedledger.demo.report import report_paths, write_report
    from fedledger.demo.runner import DemoConfig, run_demo
    from fl_node.threads import configure_torch_threads

    configure_torch_threads()

    config = DemoConfig(
        participants=participants,
        rounds=rounds,
        dataset=dataset,
        strategy=strategy,
        seed=seed,
        store_dir=report_dir / "store" if report_dir else None,
        page_dir=report_dir,
        privacy=privacy,
        dp_epsilon=dp_epsilon,
    )
    with output.progress(not as_json) as show:
        report = run_demo(config, show)
    if report_dir:
        report.report_files.update(report_paths(report_dir))
    payload = report.to_json()
    if report_dir:
        write_report(payload, report_dir)
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
    output.say(
        "gas: the embedded chain's, below a node's (it keeps storage warm across transactions; README, The demo)"
    )
    if report.privacy is not None:
        p = report.privacy
        loss = (
            f"; epsilon after {p['max_rounds']} rounds {p['epsilon_after_max_rounds']:.3g} at delta {p['delta']} "
            f"(noise multiplier {p['noise']})"
            if p["noise"]
            else "; no DP noise"
        )
        output.say(f"private rounds: {p['params']}, threshold {p['threshold']}{loss}")
    audit = report.audit
    verdict = "OK" if audit["ok"] else "MISMATCH"
    output.say(
        f"audit: {verdict}, {audit['verified_rounds']} of {len(report.rounds)} rounds re-derived "
        f"bit for bit from the chain and the content store"
    )
    for row in audit["rounds"]:
        if row["verdict"] == "MISMATCH":
            output.say(f"  round {row['round']}: {row['verdict']}: {row['reason']}")
    for path in report.report_files.values():
        output.say(f"wrote {path}")
    if "page" in report.report_files:
        output.say(f"audit page: {report.report_files['page']} (open it from disk in a browser)")
    output.say(f"done in {report.wall_seconds:.1f} s")
