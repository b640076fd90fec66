"""Bad input on the command line, tried as a user (or an attacker) would: one clear line and a non-zero exit, never
a traceback, and a multi-step command that fails leaves nothing half-done on-chain.

Exit codes: 2 for bad settings or usage, 1 for what the chain, the store or the data refused, 3 for an audit that
could not verify (or found nothing to verify).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from devnet_fixtures import FEDLEDGER, ROOT, Devnet
from eth_account import Account
from test_workflow import DATASET, create_task, ledger_of, submit_nudged

pytestmark = pytest.mark.integration


def refused(net: Devnet, *args: str, code: int, says: str, **env: str) -> str:
    """Run a command (in-process) that must fail with ``code`` and one error line containing ``says``; return
    stderr. Real processes exit the same way: test_a_refused_command_exits_the_same_as_a_real_process."""
    done = net.invoke(*args, check=False, **env)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, f"exit {done.returncode}: {done.stderr}"
    assert says in done.stderr, done.stderr
    return done.stderr


def test_verify_on_a_chain_without_tasks_is_not_success(devnet: Devnet, empty_contract: str) -> None:
    done = devnet.cli("audit", "verify", "--contract", empty_contract, check=False)
    assert done.returncode == 3 and "nothing to verify" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("task", "show", "--task", "-1"), "Invalid value for '--task'"),
        (("task", "show", "--task", str(2**256)), "Invalid value for '--task'"),
        (("task", "create", "--round-duration", str(2**64)), "Invalid value for '--round-duration'"),
        (("aggregate", "--task", "1", "--watch", "--interval", "-1"), "Invalid value for '--interval'"),
        (("task", "create", "--strategy", "FedSGD"), "did you mean 'fedsgd:lr=0.3'"),
        (("task", "create", "--strategy", "krum:f=2", "--quorum", "3"), "needs at least 7 valid updates"),
        (
            ("task", "create", "--participants", "1,1"),
            "names 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 twice",
        ),
        (("task", "create", "--participants", "1," + "0x" + "0" * 40), "names the zero address"),
        (
            ("task", "create", "--participants", "1,2", "--model-file", "/no/such/m.safetensors"),
            "does not exist",
        ),
        (("task", "create", "--participants", "1,2", "--model-file", "/tmp"), "is a directory"),
        (("task", "show", "--task", "1", "--contract", "0xZZ"), "is not an Ethereum address"),
    ],
)
def test_bad_usage_is_one_clear_line(devnet: Devnet, args: tuple[str, ...], says: str) -> None:
    count = ledger_of(devnet).task_count()
    refused(devnet, *args, code=2, says=says)
    assert ledger_of(devnet).task_count() == count, "a refused command must not leave a task behind"


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("task", "show", "--task", "-1"), 2, "Invalid value for '--task'"),
        (
            ("task", "create", "--participants", "1,1"),
            2,
            "names 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 twice",
        ),
        (("audit", "history", "--contract", "0x" + "12" * 20), 1, "no contract at"),
    ],
)
def test_a_refused_command_exits_the_same_as_a_real_process(
    devnet: Devnet, args: tuple[str, ...], code: int, says: str
) -> None:
    # Execute: the same refusal in-process (as the tests above run it) and as a process of its own
    in_process = devnet.invoke(*args, check=False)
    real = devnet.cli(*args, check=False)
    # Assert: same exit code, same error line, no traceback, nothing on stdout
    assert (real.returncode, in_process.returncode) == (code, code), real.stderr + in_process.stderr
    assert says in real.stderr and says in in_process.stderr, real.stderr
    assert "Traceback" not in real.stderr and real.stdout == in_process.stdout == ""


def test_out_of_range_sample_count_is_refused_before_anything_is_sent(devnet: Devnet, tmp_path: Path) -> None:
    update = tmp_path / "u.safetensors"
    update.write_bytes(b"not even a model")
    refused(
        devnet,
        "node",
        "submit",
        str(update),
        "--task",
        "1",
        "--samples",
        str(2**64),
        code=2,
        says="--samples",
    )


def test_a_contract_that_is_not_fedledger_is_refused(devnet: Devnet) -> None:
    someone = ledger_of(devnet).w3.eth.accounts[5]  # an account, not a contract
    refused(devnet, "task", "show", "--task", "1", "--contract", someone, code=1, says="no contract at")
    refused(devnet, "audit", "history", "--contract", "0x" + "12" * 20, code=1, says="no contract at")


def test_garbage_contract_address_in_the_state_file_is_a_clear_error(devnet: Devnet, tmp_path: Path) -> None:
    state = json.loads(devnet.state_file.read_text())
    broken = tmp_path / "devnet.json"
    broken.write_text(json.dumps({**state, "contract_address": "not-an-address"}))
    refused(
        devnet,
        "task",
        "show",
        "--task",
        "1",
        code=2,
        says="not an Ethereum address",
        FEDLEDGER_STATE=str(broken),
    )


def test_unusable_local_store_is_a_clear_error(devnet: Devnet) -> None:
    refused(
        devnet,
        "task",
        "create",
        "--participants",
        "1",
        "--quorum",
        "1",
        *DATASET,
        "--max-samples",
        "0",
        "--ipfs-api",
        "local:/proc/nope",
        code=1,
        says="cannot write to local store at /proc/nope",
    )


def test_signer_without_funds_is_refused_before_the_first_transaction(devnet: Devnet, tmp_path: Path) -> None:
    key = tmp_path / "poor.key"
    key.write_text(Account.create().key.hex())
    count = ledger_of(devnet).task_count()
    refused(
        devnet,
        "task",
        "create",
        "--participants",
        "1",
        "--quorum",
        "1",
        *DATASET,
        "--max-samples",
        "0",
        "--key-file",
        str(key),
        code=1,
        says="fund it first",
    )
    assert ledger_of(devnet).task_count() == count


def test_two_aggregators_racing_on_one_round_finalize_it_once(devnet: Devnet) -> None:
    for _ in range(3):
        # Prepare: a round everyone has submitted to
        task = create_task(devnet, "1,2", quorum=2)
        submit_nudged(devnet, task, [1, 2])
        # Execute: two aggregator processes at once
        procs = [
            subprocess.Popen(
                [*FEDLEDGER, "aggregate", "--task", task],
                cwd=ROOT,
                env=devnet.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
        # Assert: one finalized; the other said why it had nothing to do, without a traceback
        assert len(ledger_of(devnet).rounds_finalized(int(task), 1)) == 1
        assert min(code for code, _ in results) == 0, results
        for code, err in results:
            assert "Traceback" not in err, err
            if code != 0:
                assert "already finalized by" in err or "still running" in err, err


def test_help_shows_where_settings_come_from() -> None:
    done = subprocess.run(
        [*FEDLEDGER, "audit", "verify", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert "env FEDLEDGER_RPC_URL" in done.stdout and "env FEDLEDGER_IPFS_API" in done.stdout, done.stdout


def test_verify_with_the_ipfs_node_down_is_unverified_not_mismatch(devnet: Devnet) -> None:
    # Prepare: an honest round
    task = create_task(devnet, "1,2", quorum=2)
    submit_nudged(devnet, task, [1, 2])
    devnet.invoke_json("aggregate", "--task", task)
    with devnet.ipfs_stopped():
        # Execute
        done = devnet.cli("audit", "verify", "--task", task, "--json", check=False)
    # Assert: "I could not check" is not "the aggregator cheated"
    report = json.loads(done.stdout)
    assert done.returncode == 3 and report["status"] == "unverified", done.stdout
    assert report["tasks"][0]["rounds"][0]["verdict"] == "UNVERIFIED"
    assert devnet.cli_json("audit", "verify", "--task", task)["ok"] is True
