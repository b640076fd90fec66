"""What a new user meets on the command line, in-process: the CLI against an embedded chain served over loopback.

The embedded chain lives in this process (``EmbeddedChainServer`` answers JSON-RPC for it, as it does for Flower's
clients), so each command runs through typer exactly as from a shell, with its own Context, but in milliseconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_account import Account
from typer.testing import CliRunner

from fedledger import codec
from fedledger.cli.app import app
from fedledger.embedded_chain import advance_time
from fedledger.exceptions import ChainError
from fedledger.flower.bridge import EmbeddedChainServer
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits
from fedledger.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]
SHAPES = {"layer.bias": (3,), "layer.weight": (3, 2)}


def tensors(value: float) -> codec.Tensors:
    return {name: np.full(shape, value, dtype=np.float32) for name, shape in SHAPES.items()}


@dataclass
class Chain:
    """An embedded chain with the contract deployed, served at ``url``; a local store in ``store_dir``."""

    url: str
    ledger: Ledger
    store_dir: Path
    tmp: Path

    @property
    def store(self) -> LocalStore:
        return LocalStore(self.store_dir)

    def args(self) -> list[str]:
        return [
            "--rpc-url",
            self.url,
            "--contract",
            self.ledger.address,
            "--ipfs-api",
            f"local:{self.store_dir}",
        ]

    def chain_args(self) -> list[str]:
        return ["--rpc-url", self.url, "--contract", self.ledger.address]

    def run(self, *words: str, store: bool = True) -> Any:
        """Run `fedledger WORDS` in-process with this chain's endpoints; return the click Result."""
        group_and_command = list(words)
        return CliRunner().invoke(app, [*group_and_command, *(self.args() if store else self.chain_args())])

    def model_file(self, value: float, name: str) -> Path:
        path = self.tmp / name
        path.write_bytes(codec.encode(tensors(value)))
        return path

    def create_task(self, *extra: str) -> int:
        initial = self.model_file(0.0, "initial.safetensors")
        cap = [] if "--max-samples" in extra else ["--max-samples", "1000"]
        done = self.run(
            "task",
            "create",
            "--participants",
            "1,2",
            "--quorum",
            "1",
            "--model-file",
            str(initial),
            "--json",
            *cap,
            *extra,
        )
        assert done.exit_code == 0, done.output
        return int(json.loads(done.stdout)["task_id"])


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    w3 = connect(EMBEDDED)
    ledger, _ = Ledger.deploy(w3, Signer(w3.eth.accounts[0]))
    with EmbeddedChainServer(w3) as server:
        yield Chain(server.url, ledger, tmp_path / "store", tmp_path)


# ------------------------------------------------------------------------------------------- the front door


def test_bare_fedledger_prints_its_help_and_succeeds() -> None:
    done = CliRunner().invoke(app, [])

    assert done.exit_code == 0
    assert "Commands" in done.output and "model" in done.output


def test_version_prints_the_package_version() -> None:
    from fedledger import __version__

    done = CliRunner().invoke(app, ["--version"])

    assert done.exit_code == 0
    assert done.output.strip() == f"fedledger {__version__}"


def test_task_option_help_shows_no_78_digit_range() -> None:
    done = CliRunner().invoke(app, ["task", "show", "--help"])

    assert "115792089237316195" not in done.output
    assert CliRunner().invoke(app, ["task", "show", "--task", "0"]).exit_code == 2


# ------------------------------------------------------------------------------------------- errors


def test_json_errors_are_one_json_document_on_stdout(chain: Chain) -> None:
    done = chain.run("task", "show", "--task", "99", "--json", store=False)

    assert done.exit_code == 1
    error = json.loads(done.stdout)["error"]
    assert error["exit_code"] == 1
    assert "task 99 does not exist" in error["message"] and "no tasks yet" in error["message"]


def test_an_unknown_task_is_an_error_for_every_command_that_names_one(chain: Chain) -> None:
    chain.create_task()

    listed = chain.run("participant", "list", "--task", "99", store=False)
    trained = chain.run("node", "train", "--task", "99", "--account", "1")

    assert (
        listed.exit_code == 1
        and "task 99 does not exist" in listed.output
        and "holds task 1" in listed.output
    )
    assert trained.exit_code == 1 and "task 99 does not exist" in trained.output
    assert "--shard" not in trained.output


def test_error_lines_are_never_wrapped_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    long_path = tmp_path / ("a-very-long-folder-name-" * 8) / "update.safetensors"

    done = subprocess.run(
        [sys.executable, "-m", "fedledger", "node", "submit", str(long_path), "--task", "1", "--samples", "1",
         "--rpc-url", "embedded"],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(long_path) in lines[0], done.stderr


# ------------------------------------------------------------------------------------------- footguns


def test_task_create_without_participants_is_refused_before_any_transaction(chain: Chain) -> None:
    initial = chain.model_file(0.0, "initial.safetensors")

    done = chain.run("task", "create", "--quorum", "1", "--model-file", str(initial), "--max-samples", "0")

    assert done.exit_code == 2 and "no --participants" in done.output and "--no-open" in done.output
    assert chain.ledger.task_count() == 0


def test_a_sample_weighted_rule_needs_an_explicit_cap(chain: Chain) -> None:
    initial = chain.model_file(0.0, "initial.safetensors")
    base = ["task", "create", "--participants", "1,2", "--quorum", "1", "--model-file", str(initial)]

    no_cap = chain.run(*base)
    fedsgd = chain.run(*base, "--strategy", "fedsgd:lr=0.1")
    explicit_none = chain.run(*base, "--max-samples", "0", "--json")
    median = chain.run(*base, "--strategy", "median", "--json")

    assert no_cap.exit_code == 2 and "--max-samples N" in no_cap.output and "10^9" in no_cap.output
    assert fedsgd.exit_code == 2
    assert explicit_none.exit_code == 0 and json.loads(explicit_none.stdout)["limits"]["max_samples"] == 0
    assert median.exit_code == 0  # not weighted by samples: no cap needed
    assert chain.ledger.task_count() == 2


def test_a_trimmed_mean_that_trims_nothing_at_its_quorum_is_refused(chain: Chain) -> None:
    initial = chain.model_file(0.0, "initial.safetensors")
    args = [
        "task",
        "create",
        "--participants",
        ",".join(str(i) for i in range(1, 10)),
        "--model-file",
        str(initial),
    ]

    nothing = chain.run(*args, "--strategy", "trimmed_mean:beta=0.1", "--quorum", "5")
    one = chain.run(*args, "--strategy", "trimmed_mean:beta=0.125", "--quorum", "8")
    wider = chain.run(*args, "--strategy", "trimmed_mean:beta=0.2", "--quorum", "5")

    assert (
        nothing.exit_code == 2
        and "trims floor(0.1 x 5) = 0" in nothing.output
        and "--quorum to 10" in nothing.output
    )
    assert one.exit_code == 0 and wider.exit_code == 0


def test_task_create_adds_its_participants_in_one_transaction(chain: Chain) -> None:
    # Prepare
    initial = chain.model_file(0.0, "initial.safetensors")
    accounts = chain.ledger.w3.eth.accounts[1:10]

    # Execute
    done = chain.run("task", "create", "--participants", ",".join(str(i) for i in range(1, 10)), "--quorum", "5",
                     "--max-samples", "100", "--model-file", str(initial), "--json")  # fmt: skip

    # Assert: one ParticipantAdded per account, in order, all from the same transaction
    assert done.exit_code == 0, done.output
    task = int(json.loads(done.stdout)["task_id"])
    added = chain.ledger.participant_changes(task)
    assert [c.participant for c in added] == accounts and all(c.added for c in added)
    assert len({c.at.tx_hash for c in added}) == 1
    assert chain.ledger.get_task(task).participant_count == 9


def test_key_file_and_account_together_are_refused(chain: Chain) -> None:
    key = chain.tmp / "owner.key"
    key.write_text(Account.create().key.hex())

    done = chain.run("task", "open", "--task", "1", "--key-file", str(key), "--account", "1", store=False)

    assert done.exit_code == 2 and "--key-file and --account" in done.output


def test_the_aggregator_defaults_to_the_signer_not_to_dev_account_0(chain: Chain) -> None:
    # Prepare: a funded owner who signs with a key file
    owner = Account.create()
    w3 = chain.ledger.w3
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": owner.address, "value": 10**18})
    key = chain.tmp / "owner.key"
    key.write_text(owner.key.hex())

    # Execute
    task = chain.create_task("--key-file", str(key))

    # Assert
    state = chain.ledger.get_task(task)
    assert state.owner == owner.address and state.aggregator == owner.address


# ------------------------------------------------------------------------------------------- output people read


def test_task_show_and_list_read_as_text_not_python(chain: Chain) -> None:
    task = chain.create_task("--max-samples", "100")

    shown = chain.run("task", "show", "--task", str(task), store=False)
    listed = chain.run("task", "list", store=False)
    members = chain.run("participant", "list", "--task", str(task), store=False)

    assert shown.exit_code == 0 and listed.exit_code == 0
    for text in (shown.output, listed.output, members.output):
        assert "{'" not in text and "None" not in text and "True" not in text
    assert " UTC (in " in shown.output  # the deadline as a date and how far away it is
    assert "max_samples" in shown.output and "100" in shown.output
    assert "1 task on" in listed.output and "fedavg" in listed.output
    assert any(chain.ledger.address in line for line in listed.output.splitlines())  # never cut in two
    assert "2 participants" in members.output


def test_task_list_json_names_every_task(chain: Chain) -> None:
    first, second = chain.create_task(), chain.create_task("--quorum", "2")

    listed = json.loads(chain.run("task", "list", "--json", store=False).stdout)

    assert [t["task_id"] for t in listed["tasks"]] == [first, second]
    assert [t["quorum"] for t in listed["tasks"]] == [1, 2]


# ------------------------------------------------------------------------------------------- the model comes out


def _finish_round(chain: Chain, task: int) -> None:
    for account in (1, 2):
        update = chain.model_file(1.0 + account, f"update{account}.safetensors")  # 2.0 and 3.0: FedAvg 2.5
        done = chain.run(
            "node", "submit", str(update), "--task", str(task), "--samples", "10", "--account", str(account)
        )
        assert done.exit_code == 0, done.output
    closed = chain.run("aggregate", "--task", str(task), "--json")
    assert closed.exit_code == 0, closed.output


def test_model_get_writes_the_digest_checked_global_model(chain: Chain) -> None:
    task = chain.create_task()
    _finish_round(chain, task)
    out = chain.tmp / "global.safetensors"

    done = chain.run("model", "get", "--task", str(task), "--out", str(out), "--json")

    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    state = chain.ledger.get_task(task)
    assert report["round"] == 1 and report["digest"] == codec.digest_hex(state.model_digest)
    assert codec.model_digest(out.read_bytes()) == state.model_digest
    np.testing.assert_array_equal(codec.decode(out.read_bytes())["layer.bias"], np.full(3, 2.5, np.float32))
    # the file is what a PyTorch user loads: safetensors' own reader agrees
    from safetensors.numpy import load_file

    np.testing.assert_array_equal(load_file(str(out))["layer.weight"], np.full((3, 2), 2.5, np.float32))


def test_model_get_round_0_is_the_initial_model_and_a_failed_or_future_round_is_an_error(
    chain: Chain,
) -> None:
    task = chain.create_task()
    out = chain.tmp / "m.safetensors"

    initial = chain.run("model", "get", "--task", str(task), "--round", "0", "--out", str(out))
    future = chain.run("model", "get", "--task", str(task), "--round", "3", "--out", str(chain.tmp / "x"))
    still_open = chain.run("model", "get", "--task", str(task), "--round", "1", "--out", str(chain.tmp / "y"))

    assert initial.exit_code == 0 and "initial model" in initial.output
    assert codec.decode(out.read_bytes())["layer.bias"].tolist() == [0.0, 0.0, 0.0]
    assert future.exit_code == 1 and "has not been opened" in future.output
    assert still_open.exit_code == 1 and "is still open" in still_open.output
    assert not (chain.tmp / "x").exists() and not (chain.tmp / "y").exists()


def test_model_get_refuses_bytes_that_are_not_the_committed_model(chain: Chain) -> None:
    task = chain.create_task()
    _finish_round(chain, task)
    state = chain.ledger.get_task(task)
    stored = chain.store._path(state.model_cid)  # the local store's file for that CID
    stored.write_bytes(codec.encode(tensors(666.0)))
    out = chain.tmp / "global.safetensors"

    done = chain.run("model", "get", "--task", str(task), "--out", str(out))

    assert done.exit_code == 1 and not out.exists()


# ------------------------------------------------------------------------------------------- the light install


def test_node_submit_works_without_torch(chain: Chain) -> None:
    # Prepare: a task, an update file, and an interpreter in which importing torch fails
    task = chain.create_task()
    update = chain.model_file(1.0, "update.safetensors")
    script = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'sklearn'): raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from fedledger.cli.app import app\n"
        "sys.argv = ['fedledger'] + sys.argv[1:]\n"
        "app()\n"
    )

    # Execute
    done = subprocess.run(
        [sys.executable, "-c", script, "node", "submit", str(update), "--task", str(task), "--samples", "5",
         "--account", "2", "--json", *chain.args()],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip

    # Assert
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["num_samples"] == 5
    assert chain.ledger.has_submitted(task, 1, chain.ledger.w3.eth.accounts[2])


def test_submit_refusals_exit_1_like_train_refusals(chain: Chain) -> None:
    task = chain.create_task()
    wrong_shape = chain.tmp / "wrong.safetensors"
    wrong_shape.write_bytes(
        codec.encode({"layer.bias": np.ones(4, np.float32), "layer.weight": np.ones((3, 2), np.float32)})
    )

    refused = chain.run(
        "node", "submit", str(wrong_shape), "--task", str(task), "--samples", "1", "--account", "1"
    )
    stranger = chain.run(
        "node",
        "submit",
        str(chain.model_file(1.0, "u.safetensors")),
        "--task",
        str(task),
        "--samples",
        "1",
        "--account",
        "5",
    )

    assert (
        refused.exit_code == 1
        and "shape_mismatch" in refused.output
        and "nothing was uploaded" in refused.output
    )
    assert stranger.exit_code == 1 and "is not a participant" in stranger.output
    assert not chain.ledger.has_submitted(task, 1, chain.ledger.w3.eth.accounts[1])


# ------------------------------------------------------------------------------------------- bad settings, no traceback


def test_a_bad_log_window_is_a_clear_error(chain: Chain) -> None:
    task = chain.create_task()

    done = CliRunner().invoke(app, ["task", "show", "--task", str(task), *chain.chain_args()],
                              env={"FEDLEDGER_LOG_WINDOW": "abc"})  # fmt: skip

    assert done.exit_code == 2 and "FEDLEDGER_LOG_WINDOW must be a whole number" in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


def test_audit_report_into_a_file_or_an_unwritable_place_is_a_clear_error(chain: Chain) -> None:
    task = chain.create_task()
    a_file = chain.tmp / "taken.html"
    a_file.write_text("keep me")

    into_file = chain.run("audit", "report", "--task", str(task), "--out", str(a_file))
    unwritable = chain.run("audit", "report", "--task", str(task), "--out", "/proc/fedledger-report")

    assert into_file.exit_code == 2 and "is a file" in into_file.output and a_file.read_text() == "keep me"
    assert unwritable.exit_code == 2 and "cannot write the report" in unwritable.output
    assert not isinstance(unwritable.exception, OSError)


def test_an_unwritable_audit_cache_warns_and_the_audit_still_answers(chain: Chain) -> None:
    task = chain.create_task()
    _finish_round(chain, task)

    done = CliRunner().invoke(app, ["audit", "verify", "--task", str(task), *chain.args()],
                              env={"FEDLEDGER_AUDIT_CACHE": str(chain.tmp)})  # fmt: skip

    assert done.exit_code == 0, done.output
    assert "cannot write the audit cache" in done.output and "OK" in done.output


def test_audit_owner_filter_keeps_an_outsiders_junk_task_out_of_the_verdict(chain: Chain) -> None:
    # Prepare: our task, finalized honestly; an outsider's task whose round names content nobody serves
    ours = chain.create_task()
    _finish_round(chain, ours)
    w3, ledger = chain.ledger.w3, chain.ledger
    outsider, friend = Signer(w3.eth.accounts[5]), Signer(w3.eth.accounts[6])
    junk, _ = ledger.create_task(
        outsider, aggregator=outsider.address, initial_digest=b"\x01" * 32, initial_cid="bafkjunk",
        quorum=1, round_duration=3600, strategy="fedavg", limits=TaskLimits(grace_period=3600),
    )  # fmt: skip
    ledger.add_participant(outsider, junk, friend.address)
    ledger.open_round(outsider, junk)
    ledger.submit_update(friend, junk, 1, b"\x02" * 32, "bafkjunk2", 1)
    ledger.finalize_round(
        outsider, junk, 1, global_digest=b"\x03" * 32, global_cid="bafkjunk3", reasons=b"\x00"
    )

    # Execute
    everything = chain.run("audit", "verify", "--no-cache", "--json")
    mine = chain.run("audit", "verify", "--no-cache", "--owner", "0", "--json")
    history = chain.run("audit", "history", "--owner", "0", "--json", store=False)

    # Assert: the junk task spoils the audit of all tasks, not the audit of ours
    assert everything.exit_code != 0
    assert mine.exit_code == 0, mine.output
    assert [t["task_id"] for t in json.loads(mine.stdout)["tasks"]] == [ours]
    assert [t["task_id"] for t in json.loads(history.stdout)["tasks"]] == [ours]


def test_a_participant_checks_the_whole_lineage_so_a_forgery_cannot_be_laundered(chain: Chain) -> None:
    # Prepare: round 1 closed with a forged model; round 2 aggregated honestly on top of it
    from fedledger.cli.node import base_verifier
    from fedledger.cli.options import Context

    task = chain.create_task()
    for account in (1, 2):
        update = chain.model_file(float(account), f"r1-{account}.safetensors")
        assert chain.run("node", "submit", str(update), "--task", str(task), "--samples", "4",
                         "--account", str(account)).exit_code == 0  # fmt: skip
    forged = codec.encode(tensors(99.0))
    chain.ledger.finalize_round(
        Signer(chain.ledger.w3.eth.accounts[0]), task, 1, global_digest=codec.model_digest(forged),
        global_cid=chain.store.put(forged), reasons=bytes(2),
    )  # fmt: skip
    _finish_round(chain, task)  # round 2: honest, on the forged base
    ctx = Context(chain.url, chain.ledger.address, f"local:{chain.store_dir}")

    # Execute / Assert: the last round verifies, the lineage does not
    with pytest.raises(ChainError, match="lineage breaks at round 1 \\(MISMATCH"):
        base_verifier(ctx, task)(chain.ledger.get_task(task))


def test_a_strangers_reasons_for_failing_a_round_accuse_nobody_on_the_command_line(chain: Chain) -> None:
    # Prepare: two valid updates; past deadline + grace a stranger fails the round, accusing both
    from fedledger.inclusion import encode_outcomes

    task = chain.create_task("--round-duration", "100", "--grace-period", "50")
    for account in (1, 2):
        update = chain.model_file(1.0 + account, f"update{account}.safetensors")
        done = chain.run(
            "node", "submit", str(update), "--task", str(task), "--samples", "10", "--account", str(account)
        )
        assert done.exit_code == 0, done.output
    advance_time(chain.ledger.w3, chain.ledger.block_timestamp() + 200)
    stranger = Signer(chain.ledger.w3.eth.accounts[7])
    chain.ledger.close_failed_round(stranger, task, 1, reasons=encode_outcomes(["malformed", "non_finite"]))

    # Execute
    history = chain.run("audit", "history", "--task", str(task), store=False)
    verify = chain.run("audit", "verify", "--task", str(task), "--no-cache", "--fetch-budget", "60")

    # Assert: no outcome is shown against the honest updates; the audit says FAILED and why the reasons don't count
    assert history.exit_code == 0, history.output
    assert "malformed" not in history.output and "non_finite" not in history.output
    assert history.output.count("round failed") == 2
    assert verify.exit_code == 0, verify.output
    assert "FAILED" in verify.output
    assert "who is not the aggregator, are not outcomes and were ignored" in verify.output
