"""The report's data (the JSON twin of the page): task, timeline, contribution matrix, lineage, gas, metrics.

Built only from the chain (events, receipts, block times) and the content store, through the same history and
verification as `fedledger audit verify` (the same rules, ``fedledger.rules``): the page can never say OK where the
audit would not. The optional evaluation of global models is handed in by the caller, so the core needs no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fedledger import codec
from fedledger.audit import RoundVerdict, audit_summary, verify_task
from fedledger.embedded_chain import is_embedded
from fedledger.exceptions import CodecError, StoreError
from fedledger.fetch import fetch_model
from fedledger.history import RoundHistory, TaskHistory, history_json, task_history
from fedledger.ledger import Ledger
from fedledger.store import ContentStore

Evaluate = Callable[[codec.Tensors], tuple[str, float]]


class _Chain:
    """Receipts and block times, each fetched once."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._times: dict[int, int] = {}
        self._gas: dict[str, int] = {}

    def time(self, block: int | None) -> int | None:
        if block is None:
            return None
        if block not in self._times:
            self._times[block] = int(
                self.ledger._call(lambda: self.ledger.w3.eth.get_block(block)["timestamp"])
            )
        return self._times[block]

    def gas(self, tx_hash: str) -> int:
        if tx_hash not in self._gas:
            receipt = self.ledger._call(lambda: self.ledger.w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
            self._gas[tx_hash] = int(receipt["gasUsed"])
        return self._gas[tx_hash]


def _timeline(record: RoundHistory, chain: _Chain) -> dict[str, Any]:
    closed = record.finalized or record.failed
    return {
        "opened_block": record.opened.at.block_number if record.opened else None,
        "opened_time": chain.time(record.opened.at.block_number) if record.opened else None,
        "opened_tx": record.opened.at.tx_hash if record.opened else None,
        "deadline": record.opened.deadline if record.opened else None,
        "submission_blocks": [u.at.block_number for u in record.submissions],
        "closed_block": closed.at.block_number if closed else None,
        "closed_time": chain.time(closed.at.block_number) if closed else None,
        "close_tx": closed.at.tx_hash if closed else None,
    }


def _gas(record: RoundHistory, chain: _Chain) -> dict[str, int | None]:
    closed = record.finalized or record.failed
    submissions = [chain.gas(u.at.tx_hash) for u in record.submissions]
    return {
        "submissions": sum(submissions),
        "submit_mean": sum(submissions) // len(submissions) if submissions else 0,
        "close": chain.gas(closed.at.tx_hash) if closed else None,
    }


def _matrix(
    history: TaskHistory, rounds: list[dict[str, Any]], verdicts: dict[int, RoundVerdict]
) -> dict[str, Any]:
    """Participants x rounds; each cell included / excluded (reason) / absent, with samples, weight, check, the
    rule's score (Krum) and the submission's transaction."""
    participants: list[str] = []
    for change in history.participants:
        if change.participant not in participants:
            participants.append(change.participant)
    for r in rounds:
        for s in r["submissions"]:
            if s["participant"] not in participants:
                participants.append(s["participant"])
    cells: dict[str, dict[str, Any]] = {p: {} for p in participants}
    for r in rounds:
        checks = {c.index: c for c in verdicts[r["round"]].submissions} if r["round"] in verdicts else {}
        for s in r["submissions"]:
            check = checks.get(s["index"])
            cells[s["participant"]][str(r["round"])] = {
                "outcome": s["outcome"] or ("round failed" if r["status"] == "failed" else "pending"),
                "samples": s["num_samples"],
                "weight": s["weight"],
                "check": check.status if check else None,
                "note": check.note if check else "",
                "score": check.score if check else None,
                "tx_hash": s["tx_hash"],
            }
    return {"participants": participants, "rounds": [r["round"] for r in rounds], "cells": cells}


def _lineage(
    history: TaskHistory, verdicts: dict[int, RoundVerdict], metrics: dict[int, Any]
) -> list[dict[str, Any]]:
    created = history.created
    chain = [
        {
            "round": 0,
            "digest": codec.digest_hex(created.initial_digest),
            "cid": created.initial_cid,
            "verdict": "INITIAL",
            "reason": "the owner's initial model",
            "metric": metrics.get(0),
        }
    ]
    for record in history.rounds:
        verdict = verdicts.get(record.round)
        final = record.finalized
        chain.append(
            {
                "round": record.round,
                "digest": codec.digest_hex(final.global_digest) if final else None,
                "cid": final.global_cid if final else None,
                "verdict": verdict.verdict if verdict else record.status.upper(),
                "reason": verdict.reason if verdict else "",
                "metric": metrics.get(record.round),
            }
        )
    return chain


def _metrics(history: TaskHistory, store: ContentStore, evaluate: Evaluate | None) -> dict[int, Any]:
    """The metric of the initial and every committed global model, evaluated locally (when asked)."""
    if evaluate is None:
        return {}
    limit = history.limits.max_update_bytes
    models = [(0, history.created.initial_cid, history.created.initial_digest)] + [
        (r.round, r.finalized.global_cid, r.finalized.global_digest) for r in history.rounds if r.finalized
    ]
    results: dict[int, Any] = {}
    for number, cid, digest in models:
        try:
            name, value = evaluate(fetch_model(store, cid, digest, max_bytes=limit))
        except (StoreError, CodecError):
            continue
        results[number] = {"name": name, "value": value}
    return results


def report_data(
    ledger: Ledger,
    store: ContentStore,
    task_id: int,
    *,
    evaluate: Evaluate | None = None,
    rpc_hint: str = "",
    ipfs_hint: str = "",
) -> dict[str, Any]:
    """Everything the page shows, as plain JSON (the page's twin)."""
    history = task_history(ledger, task_id)
    chain = _Chain(ledger)
    verdict_list = verify_task(history, store)
    verdicts = {v.round: v for v in verdict_list}
    data = history_json(history)
    for record, r in zip(history.rounds, data["rounds"], strict=True):
        for update, s in zip(record.submissions, r["submissions"], strict=True):
            s["tx_hash"] = update.at.tx_hash
        r["timeline"] = _timeline(record, chain)
        r["gas"] = _gas(record, chain)
        r["verdict"] = asdict(verdicts[record.round]) if record.round in verdicts else None
    metrics = _metrics(history, store, evaluate)
    summary = audit_summary(verdict_list)
    # An in-process chain (the demo's) is gone when its process ends: no command can reach it again.
    in_process = is_embedded(ledger.w3)
    command = "" if in_process else f"fedledger audit verify --task {task_id} --contract {ledger.address}"
    command += f" --rpc-url {rpc_hint}" if rpc_hint and command else ""
    command += f" --ipfs-api {ipfs_hint}" if ipfs_hint and command else ""
    return {
        "contract": ledger.address,
        "chain_id": int(ledger.w3.eth.chain_id),
        "task": {k: v for k, v in data.items() if k != "rounds"},
        "created_time": chain.time(history.created.at.block_number),
        "rounds": data["rounds"],
        "matrix": _matrix(history, data["rounds"], verdicts),
        "lineage": _lineage(history, verdicts, metrics),
        "audit": {k: v for k, v in summary.items() if k != "rounds"},
        "verify_command": command,
        "in_process_chain": in_process,
    }
