"""`task create --privacy`, `task show` and `audit history` on private tasks, in-process on an embedded chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from fedledger import codec
from fedledger.cli.app import app
from fedledger.flower.bridge import EmbeddedChainServer
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.privacy.accounting import PrivateTask
from fedledger.privacy.dp import DpParams, epsilon_after, max_rounds_within
from fedledger.privacy.quantize import QuantParams
from fedledger.records import ParticipantChanged, RoundOpened, TaskCreated, TaskLimits, TaskPrivacyConfigured

SHAPES = {"layer.bias": (3,), "layer.weight": (3, 2)}  # 9 parameters
DIM = 9


@dataclass
class Chain:
    url: str
    ledger: Ledger
    tmp: Path

    def run(self, *words: str) -> Any:
        endpoints = ["--rpc-url", self.url, "--contract", self.ledger.address]
        if words[:2] == ("task", "create"):
            endpoints += ["--ipfs-api", f"local:{self.tmp / 'store'}"]
        return CliRunner().invoke(app, [*words, *endpoints])

    def create(self, *extra: str) -> Any:
        initial = self.tmp / "initial.safetensors"
        initial.write_bytes(codec.encode({n: np.zeros(s, np.float32) for n, s in SHAPES.items()}))
        return self.run("task", "create", "--participants", "1,2,3", "--model-file", str(initial), *extra)

    def create_json(self, *extra: str) -> dict[str, Any]:
        done = self.create("--json", *extra)
        assert done.exit_code == 0, done.output
        return dict(json.loads(done.stdout))


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    w3 = connect(EMBEDDED)
    ledger, _ = Ledger.deploy(w3, Signer(w3.eth.accounts[0]))
    with EmbeddedChainServer(w3) as server:
        yield Chain(server.url, ledger, tmp_path)


def test_a_private_task_records_its_exact_params_before_its_participants_and_first_round(
    chain: Chain,
) -> None:
    created = chain.create_json("--privacy", "secagg", "--max-samples", "100")

    events = chain.ledger.task_events(created["task_id"])
    kinds = [type(e) for e in events]
    configured = next(e for e in events if isinstance(e, TaskPrivacyConfigured))
    assert kinds.index(TaskCreated) < kinds.index(TaskPrivacyConfigured) < kinds.index(ParticipantChanged)
    assert kinds.index(ParticipantChanged) < kinds.index(RoundOpened)
    assert configured.params == "secagg:clip=1.0,scale_bits=16"
    assert (configured.threshold, configured.max_rounds) == (2, 0)  # 3 // 2 + 1; no cap without a budget
    assert (configured.keys_period, configured.shares_period, configured.unmask_period) == (120, 120, 120)
    assert created["quorum"] == 2  # the threshold, --quorum being left out
    assert created["privacy"]["params"] == configured.params
    assert created["privacy"]["epsilon_per_round"] is None
    assert created["strategy"] == "fedavg" and created["limits"]["max_samples"] == 100


def test_explicit_flags_reach_the_chain_as_given(chain: Chain) -> None:
    created = chain.create_json(
        "--privacy", "secagg", "--max-samples", "50", "--clip", "0.5", "--scale-bits", "10", "--secagg-threshold", "3",
        "--quorum", "3", "--keys-period", "30", "--shares-period", "40", "--unmask-period", "50",
        "--max-rounds", "7", "--strategy", "fedsgd",
    )  # fmt: skip

    configured = next(
        e for e in chain.ledger.task_events(created["task_id"]) if isinstance(e, TaskPrivacyConfigured)
    )
    assert configured.params == "secagg:clip=0.5,scale_bits=10"
    assert (configured.threshold, configured.max_rounds) == (3, 7)
    assert (configured.keys_period, configured.shares_period, configured.unmask_period) == (30, 40, 50)


def test_an_epsilon_alone_sets_the_smallest_noise_that_keeps_within_it_over_the_round_cap(
    chain: Chain,
) -> None:
    created = chain.create_json(
        "--privacy", "secagg", "--max-samples", "100", "--dp-epsilon", "4", "--max-rounds", "5"
    )

    privacy = created["privacy"]
    configured = next(
        e for e in chain.ledger.task_events(created["task_id"]) if isinstance(e, TaskPrivacyConfigured)
    )
    task = PrivateTask.from_event(configured, weight_cap=100)
    assert configured.params == task.spec.canonical and configured.max_rounds == 5
    assert (task.spec.delta, task.spec.dim, task.spec.budget) == (1e-5, DIM, 4.0)
    assert task.epsilon_after(5) <= 4.0 and task.budget_respected()
    assert privacy["epsilon_after_max_rounds"] == task.epsilon_after(5)
    assert privacy["epsilon_per_round"] == task.epsilon_after(1)


def test_a_noise_and_an_epsilon_set_the_round_cap_to_what_the_budget_covers(chain: Chain) -> None:
    created = chain.create_json(
        "--privacy",
        "secagg",
        "--max-samples",
        "100",
        "--dp-noise",
        "2",
        "--dp-epsilon",
        "10",
        "--scale-bits",
        "12",
    )

    configured = next(
        e for e in chain.ledger.task_events(created["task_id"]) if isinstance(e, TaskPrivacyConfigured)
    )
    within = max_rounds_within(DpParams(2.0, 1e-5, 2), QuantParams(1.0, 12, 100, 1), DIM, 10.0)
    assert configured.params == f"secagg:clip=1.0,scale_bits=12,noise=2.0,delta=1e-05,dim={DIM},budget=10.0"
    assert configured.max_rounds == within > 0


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--strategy", "median"], "never shows"),
        (["--strategy", "fedavg:clip=1"], "--clip 1.0"),
        (["--clients-per-round", "2"], "--clients-per-round"),
        (["--max-samples", "0"], "--max-samples N"),
        (["--quorum", "1"], "threshold 2 is above --quorum 1"),
        (["--secagg-threshold", "4"], "larger than the 3 participants"),
        (["--max-samples", "100000", "--scale-bits", "16"], "the largest --scale-bits that fits is 12"),
        (["--round-duration", "10", "--keys-period", "8"], "leave no time for uploads"),
        (["--dp-noise", "2", "--dp-epsilon", "0.001"], "spends more than epsilon"),
        (["--dp-delta", "1e-6"], "--dp-delta needs"),
        (["--privacy", "plain"], "unknown --privacy"),
    ],
)
def test_refusals_are_one_line_and_send_nothing(chain: Chain, flags: list[str], says: str) -> None:
    cap = [] if "--max-samples" in flags else ["--max-samples", "100"]
    privacy = [] if "--privacy" in flags else ["--privacy", "secagg"]

    done = chain.create(*privacy, *cap, *flags)

    assert done.exit_code == 2, done.output
    assert says in " ".join(done.output.split())
    assert "Traceback" not in done.output
    assert chain.ledger.task_count() == 0


def test_a_private_task_without_a_cap_is_refused(chain: Chain) -> None:
    done = chain.create("--privacy", "secagg")

    assert done.exit_code == 2 and "--max-samples" in done.output
    assert chain.ledger.task_count() == 0


def test_privacy_flags_without_privacy_are_refused(chain: Chain) -> None:
    done = chain.create("--max-samples", "100", "--secagg-threshold", "2", "--dp-epsilon", "1")

    assert done.exit_code == 2
    assert "--threshold, --dp-epsilon only apply to private tasks" in " ".join(done.output.split())
    assert chain.ledger.task_count() == 0


def test_a_plain_task_keeps_its_default_quorum_and_has_no_privacy(chain: Chain) -> None:
    created = chain.create_json("--max-samples", "100")

    assert created["quorum"] == 2 and created["privacy"] is None
    assert chain.ledger.get_task(created["task_id"]).quorum == 2


def _advertise(chain: Chain, task: int, account: int) -> None:
    w3 = chain.ledger.w3
    signer = Signer(w3.eth.accounts[account])
    key = bytes([account]) * 32
    chain.ledger.advertise_keys(signer, task, 1, encryption_key=key, mask_key=key, seed_commitment=key)


def test_task_show_tells_the_phase_the_counts_and_the_epsilon_spent(chain: Chain) -> None:
    task = chain.create_json(
        "--privacy", "secagg", "--max-samples", "100", "--dp-epsilon", "4", "--max-rounds", "5"
    )["task_id"]
    _advertise(chain, task, 1)

    shown = chain.run("task", "show", "--task", str(task), "--json")
    text = chain.run("task", "show", "--task", str(task))

    assert shown.exit_code == 0, shown.output
    privacy = json.loads(shown.stdout)["privacy"]
    configured = next(e for e in chain.ledger.task_events(task) if isinstance(e, TaskPrivacyConfigured))
    spent = PrivateTask.from_event(configured, weight_cap=100).epsilon_after(1)
    assert (privacy["phase"], privacy["keys"], privacy["expected"], privacy["threshold"]) == ("keys", 1, 3, 2)
    assert privacy["phase_deadline"] == privacy["keys_deadline"] > 0
    assert (privacy["epsilon_spent"], privacy["epsilon_budget"], privacy["delta"]) == (spent, 4.0, 1e-5)
    assert text.exit_code == 0 and "1 of 3 keys" in text.output and "keys" in text.output


def test_task_show_of_a_plain_task_has_no_privacy(chain: Chain) -> None:
    task = chain.create_json("--max-samples", "100")["task_id"]

    shown = chain.run("task", "show", "--task", str(task), "--json")

    assert json.loads(shown.stdout)["privacy"] is None


def test_audit_history_reports_the_task_privacy_and_each_rounds_postings(chain: Chain) -> None:
    task = chain.create_json(
        "--privacy", "secagg", "--max-samples", "100", "--dp-epsilon", "4", "--max-rounds", "5"
    )["task_id"]
    _advertise(chain, task, 1)
    _advertise(chain, task, 2)

    done = chain.run("audit", "history", "--task", str(task), "--json")
    text = chain.run("audit", "history", "--task", str(task))

    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)["tasks"][0]
    configured = next(e for e in chain.ledger.task_events(task) if isinstance(e, TaskPrivacyConfigured))
    accounted = PrivateTask.from_event(configured, weight_cap=100)
    privacy = data["privacy"]
    assert (privacy["params"], privacy["usable"], privacy["threshold"], privacy["max_rounds"]) == (
        configured.params, True, 2, 5
    )  # fmt: skip
    assert privacy["dp"]["epsilon_budget"] == 4.0
    assert privacy["dp"]["epsilon_after_max_rounds"] == accounted.epsilon_after(5)
    assert data["rounds"][0]["private"] == {
        "keys": 2, "shares": 0, "uploads": 0, "unmasks": 0, "epsilon_spent": accounted.epsilon_after(1)
    }  # fmt: skip
    assert data["finished"] is None
    assert text.exit_code == 0, text.output
    assert "round 1 private: 2 keys, 0 shares, 0 uploads, 0 unmasks; ε spent" in text.output


def test_non_canonical_params_on_chain_are_shown_as_unusable_never_a_traceback(chain: Chain) -> None:
    owner = Signer(chain.ledger.w3.eth.accounts[0])
    task, _ = chain.ledger.create_task(
        owner, aggregator=owner.address, initial_digest=b"\x01" * 32, initial_cid="bafy-junk", quorum=1,
        round_duration=600, strategy="fedavg", limits=TaskLimits(max_samples=10),
    )  # fmt: skip
    chain.ledger.configure_privacy(
        owner, task, threshold=1, max_rounds=0, keys_period=10, shares_period=10, unmask_period=10,
        params="secagg:clip=1,scale_bits=16",
    )  # fmt: skip

    done = chain.run("audit", "history", "--task", str(task), "--json")
    text = chain.run("audit", "history", "--task", str(task))
    shown = chain.run("task", "show", "--task", str(task), "--json")

    privacy = json.loads(done.stdout)["tasks"][0]["privacy"]
    assert (privacy["usable"], privacy["dp"]) == (False, None) and "not canonical" in privacy["error"]
    assert text.exit_code == 0 and "unusable params" in text.output and "Traceback" not in text.output
    assert json.loads(shown.stdout)["privacy"]["usable"] is False


def test_epsilon_spent_is_what_the_accountant_says_for_the_rounds_opened() -> None:
    assert epsilon_after(DpParams(2.0, 1e-5, 2), QuantParams(1.0, 12, 100, 1), DIM, 0) == 0.0
