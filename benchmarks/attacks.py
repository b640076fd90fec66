"""Attacks by participants against every aggregation rule, through the real protocol (embedded default).

For each dataset, fraction of attackers and attack, the final metric of each rule next to the clean run, plus the
exclusions the aggregator recorded and whether the audit verified every round. Rewrites the `attacks` section of
BENCHMARKS.md. `make bench-attacks` (about 20 minutes on 2 cores); `--quick` runs digits at 30% only;
`--focus bikes5` runs one attacker of five on the non-IID bikes and rewrites the `attacks-bikes5` section instead
(`benchmarks/attacks_focus.py`, a few minutes).
"""

from __future__ import annotations

import argparse
import time

from report import machine, table, write_section  # type: ignore[import-not-found]

from fedledger.demo.attacks import ATTACKS, AttackResult, AttackRun, run_attack
from fl_node.threads import configure_torch_threads

RULES = ("fedavg", "fedavg:clip=5.0", "median", "trimmed_mean:beta=0.3", "multikrum:f=3")
CAPS = {"digits": 150, "bikes": 1400}  # about one participant's fair share of 10 IID slices


def cell(result: AttackResult) -> str:
    value = f"{result.metric:.3f}" if result.metric_name == "accuracy" else f"{result.metric:.1f}"
    flags = "" if result.audit_ok else " (audit!)"
    if result.failed_rounds:
        flags += f" ({result.failed_rounds} failed)"
    return value + flags


def run_grid(datasets: list[str], fractions: list[float]) -> str:
    sections = []
    for dataset in datasets:
        clean = {rule: run_attack(AttackRun(dataset=dataset, strategy=rule)) for rule in RULES}
        metric = next(iter(clean.values())).metric_name
        rows = [["clean", "-", *(cell(clean[r]) for r in RULES)]]
        for fraction in fractions:
            for attack in (*ATTACKS, "inflation (capped)"):
                capped = attack == "inflation (capped)"
                results = [
                    run_attack(
                        AttackRun(
                            dataset=dataset,
                            strategy=rule,
                            attack="inflation" if capped else attack,
                            fraction=fraction,
                            cap=CAPS[dataset] if capped else 0,
                        )
                    )
                    for rule in RULES
                ]
                rows.append([attack, f"{fraction:.0%}", *(cell(r) for r in results)])
                print(dataset, attack, fraction, [cell(r) for r in results], flush=True)
        better = "higher" if metric == "accuracy" else "lower"
        sections.append(
            f"**{dataset}** (test {metric}, {better} is better)\n\n"
            + table(["attack", "attackers", *RULES], rows)
        )
    return "\n\n".join(sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits at 30% only")
    parser.add_argument("--focus", choices=["bikes5"], help="one attacker of 5 on non-IID bikes, explained")
    args = parser.parse_args()
    configure_torch_threads()
    started = time.perf_counter()
    if args.focus:
        focus(started)
        return
    datasets, fractions = (["digits"], [0.3]) if args.quick else (["digits", "bikes"], [0.1, 0.3, 0.45])
    body = run_grid(datasets, fractions)
    minutes = (time.perf_counter() - started) / 60
    write_section(
        "attacks",
        "## Attacks by participants, per aggregation rule\n\n"
        f"`python benchmarks/attacks.py` ({machine()}; {minutes:.0f} min). 10 participants with IID slices, 3 "
        "rounds, every round through the contract, the coordinator and the audit on the embedded default; the "
        "first 10% / 30% / 45% of the participants attack (`fedledger/demo/attacks.py` says how). Cells are the "
        'final global model\'s test metric; "(n failed)" counts rounds that closed without a model, "(audit!)" '
        "a round that did not verify. `inflation` claims 10^9 samples for a label-flipped update; "
        "`inflation (capped)` runs on a task whose cap is about one participant's share; `free_ride` sends the "
        "base model back (excluded as `unchanged`).\n\n" + body,
    )


def focus(started: float) -> None:
    from attacks_focus import run_focus  # type: ignore[import-not-found]

    body = run_focus()
    print(body)
    minutes = (time.perf_counter() - started) / 60
    write_section(
        "attacks-bikes5",
        "## One attacker of five on bikes (non-IID), explained\n\n"
        f"`python benchmarks/attacks.py --focus bikes5` ({machine()}; {minutes:.0f} min). Issue 16, item 4.\n\n"
        + body,
    )


if __name__ == "__main__":
    main()
