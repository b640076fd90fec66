"""The server side: ``Anchored(strategy, ...)``, a Flower strategy whose global model is what the ledger says.

Every Flower round is one on-chain round of the task. ``configure_train`` checks that the model Flower holds is
the task's current model and tells the clients where to register; the inner strategy still samples and
configures. ``aggregate_train`` ignores the inner strategy's arithmetic: it closes the on-chain round with
fedledger's coordinator, which aggregates **what was registered** (fetched from the store by CID, checked against
the registered digest, judged by the task's deterministic rule, every submission's outcome recorded), and hands
the committed global model back to Flower. Replies that differ from what their client registered are reported.
Evaluation, metrics and ``start()`` are Flower's own.

Only strategies whose server-side aggregation fedledger reproduces deterministically are accepted (``SUPPORTED``);
stateful ones (FedAvgM, FedAdam, FedYogi, FedAdagrad, QFedAvg) and the DP wrappers are refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, FedMedian, FedProx, FedTrimmedAvg, Krum, MultiKrum, Strategy

from aggregator.coordinator import Coordinator, RoundNotReadyError, RoundOutcome
from fedledger import codec
from fedledger.exceptions import ConfigurationError
from fedledger.ledger import Ledger, Signer
from fedledger.store import ContentStore
from fedledger.strategy_spec import parse_spec

log = logging.getLogger("fedledger.flower")
SUPPORTED = ("FedAvg", "FedProx", "FedMedian", "FedTrimmedAvg", "Krum", "MultiKrum")


def flower_spec(strategy: Strategy) -> str:
    """The canonical fedledger spec of a Flower strategy, or ConfigurationError naming the ones that work."""
    kind = type(strategy)
    settings: Any = strategy
    if kind in (FedAvg, FedProx):
        return "fedavg"
    if kind is FedMedian:
        return "median"
    if kind is FedTrimmedAvg:
        return parse_spec(f"trimmed_mean:beta={float(settings.beta)!r}").canonical
    if kind is Krum:
        return f"krum:f={int(settings.num_malicious_nodes)}"
    if kind is MultiKrum:
        return f"multikrum:f={int(settings.num_malicious_nodes)},m={int(settings.num_nodes_to_select)}"
    raise ConfigurationError(
        f"{kind.__name__} has no deterministic counterpart in fedledger (it keeps state or adds noise on the "
        f"server); anchored runs support {', '.join(SUPPORTED)}"
    )


class Anchored(Strategy):
    """Wrap a Flower strategy so that every round is anchored on-chain (see the module docstring)."""

    def __init__(
        self,
        strategy: Strategy,
        *,
        ledger: Ledger,
        store: ContentStore,
        signer: Signer,
        task_id: int,
        endpoints: dict[str, str] | None = None,
    ) -> None:
        self.inner = strategy
        self.spec = flower_spec(strategy)
        self.ledger, self.store, self.task_id = ledger, store, task_id
        self.endpoints = endpoints or {}
        state = ledger.get_task(task_id)
        if state.strategy != self.spec:
            raise ConfigurationError(
                f"task {task_id} aggregates with {state.strategy!r} but the Flower strategy is "
                f"{type(strategy).__name__} ({self.spec}): create the task with --strategy {self.spec}"
            )
        self.coordinator = Coordinator(ledger, store, signer, on_progress=log.debug)
        self.outcomes: dict[int, RoundOutcome] = {}
        self.reply_mismatches: dict[int, list[str]] = {}

    # ---------------------------------------------------------------- training, anchored

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        state = self.ledger.get_task(self.task_id)
        digest = codec.model_digest(codec.encode({k: a.numpy() for k, a in arrays.items()}))
        if digest != state.model_digest:
            raise ConfigurationError(
                f"Flower round {server_round}: the model Flower holds is not task {self.task_id}'s current model "
                f"on-chain ({codec.digest_hex(state.model_digest)}); start from the task's model"
            )
        if not state.round_open:
            raise ConfigurationError(
                f"task {self.task_id} has no open round: open it with `fedledger task open`"
            )
        config["fedledger-task"] = str(self.task_id)
        config["fedledger-round"] = state.round
        for key, value in self.endpoints.items():
            config[key] = value
        return self.inner.configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = [r for r in replies if not r.has_error()]
        round_ = self.ledger.get_task(self.task_id).round
        self._check_replies(round_, replies)
        outcome = self._close_round()
        self.outcomes[server_round] = outcome
        for exclusion in outcome.excluded:
            log.warning(
                "round %d: excluded %s: %s (%s)",
                round_,
                exclusion.participant,
                exclusion.reason,
                exclusion.detail,
            )
        if outcome.failed:
            log.warning("round %d closed without a global model (too few valid updates)", round_)
            return None, None
        model = codec.decode(self.store.get(outcome.global_cid))
        record = ArrayRecord({name: Array(value) for name, value in model.items()})
        metrics = self._train_metrics(replies)
        return record, metrics

    def _close_round(self) -> RoundOutcome:
        """Close the open round; when a node did not register, the contract waits for the deadline, and so do we."""
        try:
            return self.coordinator.close_round(self.task_id)
        except RoundNotReadyError as exc:
            deadline = self.ledger.get_task(self.task_id).deadline
            wait = deadline - self.ledger.next_block_time() + 1
            log.warning("%s; waiting %d s for the round's deadline", exc, wait)
            time.sleep(max(0, wait))
            return self.coordinator.close_round(self.task_id)

    def _check_replies(self, round_: int, replies: list[Message]) -> None:
        """Compare each reply with what its client registered; the chain wins, differences are reported."""
        registered = {u.participant: u.digest for u in self.ledger.updates_submitted(self.task_id, round_)}
        problems = []
        for reply in replies:
            tag = reply.content.config_records.get("fedledger")
            if tag is None:
                problems.append(
                    f"node {reply.metadata.src_node_id} replied without registering (no ledger_mod?)"
                )
                continue
            (record,) = reply.content.array_records.values()
            digest = codec.model_digest(codec.encode({k: a.numpy() for k, a in record.items()}))
            participant = str(tag["participant"])
            if registered.get(participant) != digest:
                problems.append(f"{participant}'s reply differs from what it registered on-chain")
        for problem in problems:
            log.warning("round %d: %s", round_, problem)
        self.reply_mismatches[round_] = problems

    def _train_metrics(self, replies: list[Message]) -> MetricRecord | None:
        aggregate: Any = getattr(self.inner, "train_metrics_aggr_fn", None)
        key = getattr(self.inner, "weighted_by_key", "num-examples")
        try:
            return aggregate([r.content for r in replies], key) if aggregate and replies else None
        except (KeyError, ValueError, ZeroDivisionError, TypeError):
            return None

    # ---------------------------------------------------------------- the rest is Flower's

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.inner.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.inner.aggregate_evaluate(server_round, replies)

    def summary(self) -> None:
        self.inner.summary()
