"""A thin typed layer over web3.py's contract object for the round contract.

It loads the ABI from the committed artifact (no Node, no compiler at run time), sends transactions as a
``Signer`` (a node-managed dev account, or a local private key for real chains), turns custom-error reverts into
``ContractRevertError`` with the contract's reason, and returns dataclass records instead of raw dicts. Events are
always queried by task (and round) topics, so a node answers from its log index rather than a scan.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, Web3RPCError
from web3.logs import DISCARD
from web3.types import RPCEndpoint

from fedledger import __version__, lean_call
from fedledger import records as rec
from fedledger.artifact import code_hash, known_versions, load_artifact
from fedledger.embedded_chain import embedded_web3, fund_accounts
from fedledger.events import EventLog
from fedledger.exceptions import ChainError, ChainUnavailableError, ConfigurationError, ContractRevertError
from fedledger.revert import RevertDecoder, revert_data

REVERTS = (ContractCustomError, ContractLogicError)  # every chain, the embedded one too, reverts through web3

EMBEDDED = "embedded"
VIEW_CALLER = "0x" + "00" * 20
T = TypeVar("T")


@dataclass(frozen=True)
class Signer:
    """Who sends a transaction: ``private_key`` None means the node holds the key (dev accounts)."""

    address: str
    private_key: str | None = None

    @classmethod
    def from_key(cls, private_key: str) -> Signer:
        return cls(Account.from_key(private_key).address, private_key)


def connect(rpc_url: str, timeout: float = 30.0) -> Web3:
    """Return a connected Web3: ``"embedded"`` for an in-process chain (``fedledger.embedded_chain``), else a
    JSON-RPC URL."""
    if rpc_url == EMBEDDED:
        return embedded_web3()
    # web3 checks the chain id before every transaction and call it validates; a node's chain id never changes, so
    # it is asked once (without this, a third of a participant's requests were eth_chainId).
    provider = HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": timeout},
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId"), RPCEndpoint("net_version")},
    )
    w3 = Web3(provider)
    try:
        _ = w3.eth.chain_id  # one round trip: fail now, with a clear message, if nobody answers
    except (requests.RequestException, OSError) as exc:
        raise ChainUnavailableError(
            f"no Ethereum JSON-RPC node answers at {rpc_url} ({type(exc).__name__}). "
            "Start one with `fedledger devnet up` or pass --rpc-url."
        ) from None
    return w3


class Ledger:
    """The round contract at ``address`` on ``w3``."""

    def __init__(self, w3: Web3, address: str, *, from_block: int = 0, tx_timeout: float = 120.0) -> None:
        if not isinstance(address, str) or not Web3.is_address(address):
            raise ConfigurationError(f"{address!r} is not an Ethereum address (0x followed by 40 hex digits)")
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.from_block = from_block
        self.tx_timeout = tx_timeout
        self._revert = RevertDecoder(load_artifact()["abi"])
        abi = self._deployed_abi()
        self._revert = RevertDecoder(abi)
        self.contract = w3.eth.contract(address=self.address, abi=abi)
        self.events = EventLog(w3, self.contract, from_block, self._call)
        self._view_from = VIEW_CALLER  # views name a caller: nodes run calls from anyone

    def _deployed_abi(self) -> list[Any]:
        """The ABI of the round-contract version deployed at the address, known by its runtime-code hash.

        Refuses an address that holds no contract, or a contract that is no version this client reads
        (``fedledger.artifact.known_versions``), naming its code hash.
        """
        code = bytes(self._call(lambda: self.w3.eth.get_code(self.address)))
        chain = self._call(lambda: self.w3.eth.chain_id)
        if not code:
            raise ChainError(
                f"no contract at {self.address} on chain {chain}: wrong address or a restarted devnet? "
                "Run `fedledger devnet up` again or pass the right --contract."
            )
        known = known_versions()
        version = known.get(code_hash(code))
        if version is None:
            raise ChainError(
                f"the contract at {self.address} on chain {chain} is no fedledger round contract this client "
                f"reads: its runtime code hash {code_hash(code)} is none of the {len(known)} known to fedledger "
                f"{__version__}; pass the right --contract, or upgrade fedledger if the contract is newer"
            )
        abi: list[Any] = version["abi"]
        return abi

    @classmethod
    def deploy(cls, w3: Web3, signer: Signer) -> tuple[Ledger, rec.TxResult]:
        """Deploy a fresh round contract from the committed artifact."""
        artifact = load_artifact()
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = _send(w3, factory.constructor(), signer, 120.0, RevertDecoder(artifact["abi"]))
        ledger = cls(w3, receipt["contractAddress"], from_block=receipt["blockNumber"])
        return ledger, _tx_result(receipt)

    # ------------------------------------------------------------------ transactions

    def create_task(
        self,
        signer: Signer,
        *,
        aggregator: str,
        initial_digest: bytes,
        initial_cid: str,
        quorum: int,
        round_duration: int,
        strategy: str,
        limits: rec.TaskLimits | None = None,
    ) -> tuple[int, rec.TxResult]:
        """Create a task owned by ``signer``; returns its id (from the TaskCreated event)."""
        limits = limits or rec.TaskLimits()
        fn = self.contract.functions.createTask(
            Web3.to_checksum_address(aggregator),
            initial_digest,
            initial_cid,
            quorum,
            round_duration,
            strategy,
            (limits.max_samples, limits.max_update_bytes, limits.grace_period, limits.clients_per_round),
        )
        receipt = self._transact(fn, signer)
        (event,) = self.contract.events.TaskCreated().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["taskId"]), _tx_result(receipt)

    def set_aggregator(self, signer: Signer, task_id: int, aggregator: str) -> rec.TxResult:
        fn = self.contract.functions.setAggregator(task_id, Web3.to_checksum_address(aggregator))
        return self._tx(fn, signer)

    def add_participant(
        self, signer: Signer, task_id: int, account: str, *, max_samples: int = 0
    ) -> rec.TxResult:
        fn = self.contract.functions.addParticipant(task_id, Web3.to_checksum_address(account), max_samples)
        return self._tx(fn, signer)

    def add_participants(
        self,
        signer: Signer,
        task_id: int,
        accounts: Sequence[str],
        *,
        max_samples: Sequence[int] | None = None,
    ) -> list[rec.TxResult]:
        """Add ``accounts`` (each with its cap, default 0) with ``addParticipants``, ADD_BATCH per transaction.

        The events are those of one ``addParticipant`` per account. A refused account reverts its own batch only:
        the batches before it stay added.
        """
        caps = list(max_samples) if max_samples is not None else [0] * len(accounts)
        if len(caps) != len(accounts):
            raise ValueError(f"{len(accounts)} accounts but {len(caps)} sample caps")
        if not self.offers("addParticipants"):  # a contract version from before the batch: one at a time
            return [
                self.add_participant(signer, task_id, a, max_samples=c)
                for a, c in zip(accounts, caps, strict=True)
            ]
        checksummed = [Web3.to_checksum_address(a) for a in accounts]
        results = []
        for start in range(0, len(checksummed), ADD_BATCH):
            chunk = checksummed[start : start + ADD_BATCH]
            fn = self.contract.functions.addParticipants(task_id, chunk, caps[start : start + ADD_BATCH])
            results.append(self._tx(fn, signer))
        return results

    def remove_participant(self, signer: Signer, task_id: int, account: str) -> rec.TxResult:
        fn = self.contract.functions.removeParticipant(task_id, Web3.to_checksum_address(account))
        return self._tx(fn, signer)

    def open_round(self, signer: Signer, task_id: int) -> rec.TxResult:
        return self._tx(self.contract.functions.openRound(task_id), signer)

    def submit_update(
        self, signer: Signer, task_id: int, round_: int, digest: bytes, cid: str, num_samples: int
    ) -> rec.TxResult:
        fn = self.contract.functions.submitUpdate(task_id, round_, digest, cid, num_samples)
        return self._tx(fn, signer, clock_gas=PRIVATE_POSTING_GAS + 40 * len(cid))

    def finalize_round(
        self,
        signer: Signer,
        task_id: int,
        round_: int,
        *,
        global_digest: bytes,
        global_cid: str,
        reasons: bytes,
    ) -> rec.TxResult:
        """Commit the global model with one reason byte per submission (``fedledger.inclusion``)."""
        fn = self.contract.functions.finalizeRound(task_id, round_, global_digest, global_cid, reasons)
        return self._tx(fn, signer, clock_gas=clock_gas_limit(reasons) + 40 * len(global_cid))

    def close_failed_round(
        self, signer: Signer, task_id: int, round_: int, *, reasons: bytes = b""
    ) -> rec.TxResult:
        """Close the round as failed; the aggregator passes ``reasons`` when the round reached quorum."""
        fn = self.contract.functions.closeFailedRound(task_id, round_, reasons)
        return self._tx(fn, signer, clock_gas=clock_gas_limit(reasons))

    def configure_privacy(
        self,
        signer: Signer,
        task_id: int,
        *,
        threshold: int,
        max_rounds: int,
        keys_period: int,
        shares_period: int,
        unmask_period: int,
        params: str,
    ) -> rec.TxResult:
        """Make the task private (owner, once, before its first round): README, "Private rounds"."""
        config = (threshold, max_rounds, keys_period, shares_period, unmask_period, params)
        return self._tx(self.contract.functions.configurePrivacy(task_id, config), signer)

    def advertise_keys(
        self,
        signer: Signer,
        task_id: int,
        round_: int,
        *,
        encryption_key: bytes,
        mask_key: bytes,
        seed_commitment: bytes,
    ) -> rec.TxResult:
        fn = self.contract.functions.advertiseKeys(task_id, round_, encryption_key, mask_key, seed_commitment)
        return self._tx(fn, signer, clock_gas=PRIVATE_POSTING_GAS)

    def post_shares(self, signer: Signer, task_id: int, round_: int, digest: bytes, cid: str) -> rec.TxResult:
        fn = self.contract.functions.postShares(task_id, round_, digest, cid)
        return self._tx(fn, signer, clock_gas=PRIVATE_POSTING_GAS + 40 * len(cid))

    def post_unmask(self, signer: Signer, task_id: int, round_: int, digest: bytes, cid: str) -> rec.TxResult:
        fn = self.contract.functions.postUnmask(task_id, round_, digest, cid)
        return self._tx(fn, signer, clock_gas=PRIVATE_POSTING_GAS + 40 * len(cid))

    def set_committee(
        self, signer: Signer, task_id: int, members: Sequence[str], threshold: int
    ) -> rec.TxResult:
        """Make ``members`` the task's aggregators, ``threshold`` of whom must attest the same outcome (owner)."""
        checksummed = [Web3.to_checksum_address(m) for m in members]
        return self._tx(self.contract.functions.setCommittee(task_id, checksummed, threshold), signer)

    def attest_round(
        self,
        signer: Signer,
        task_id: int,
        round_: int,
        *,
        global_digest: bytes,
        global_cid: str,
        reasons: bytes,
    ) -> rec.TxResult:
        """A committee member's outcome (``global_digest`` of 32 zero bytes and an empty CID: the round fails)."""
        fn = self.contract.functions.attestRound(task_id, round_, global_digest, global_cid, reasons)
        return self._tx(
            fn, signer, clock_gas=clock_gas_limit(reasons) + 40 * len(global_cid) + 60 * len(reasons)
        )

    def configure_commit_reveal(self, signer: Signer, task_id: int, reveal_period: int) -> rec.TxResult:
        """Make the task register updates by commit and reveal (owner, before its first round)."""
        return self._tx(self.contract.functions.configureCommitReveal(task_id, reveal_period), signer)

    def commit_update(self, signer: Signer, task_id: int, round_: int, commitment: bytes) -> rec.TxResult:
        fn = self.contract.functions.commitUpdate(task_id, round_, commitment)
        return self._tx(fn, signer, clock_gas=PRIVATE_POSTING_GAS)

    def reveal_update(
        self,
        signer: Signer,
        task_id: int,
        round_: int,
        digest: bytes,
        cid: str,
        num_samples: int,
        salt: bytes,
    ) -> rec.TxResult:
        fn = self.contract.functions.revealUpdate(task_id, round_, digest, cid, num_samples, salt)
        return self._tx(fn, signer, clock_gas=PRIVATE_POSTING_GAS + 40 * len(cid))

    def draw_seed(self, signer: Signer, task_id: int) -> rec.TxResult:
        """Draw the open round's seed of a sampled task (anyone; the first submission draws it too)."""
        return self._tx(self.contract.functions.drawSeed(task_id), signer)

    def require_funds(self, signer: Signer, *, transactions: int = 1) -> None:
        """Raise ChainError, before anything is sent, when ``signer`` cannot pay for ``transactions``.

        A multi-step command calls this first, so that an unfunded signer cannot leave a half-done job on-chain.
        """
        balance = self._call(lambda: self.w3.eth.get_balance(Web3.to_checksum_address(signer.address)))
        gas_price = self._call(lambda: self.w3.eth.gas_price)
        needed = transactions * 300_000 * gas_price
        if balance == 0 or balance < needed:
            raise ChainError(
                f"{signer.address} holds {balance} wei on chain {self.w3.eth.chain_id}, not enough for "
                f"{transactions} transactions (about {needed} wei at the current gas price); fund it first"
            )

    # ------------------------------------------------------------------ views

    def task_count(self) -> int:
        return int(self._view(self.contract.functions.taskCount()))

    def get_task(self, task_id: int) -> rec.TaskState:
        """The task's live state; a task that does not exist is a ContractRevertError saying how many do."""
        try:
            return self._get_task(task_id)
        except ContractRevertError as exc:
            if exc.error_name != "FederatedRoundsUnknownTask":
                raise
            count = self.task_count()
            known = f"tasks 1 to {count}" if count > 1 else ("task 1" if count == 1 else "no tasks yet")
            raise ContractRevertError(
                f"task {task_id} does not exist on contract {self.address} (it holds {known}; "
                "`fedledger task list` shows them)",
                exc.error_name,
                exc.error_args,
            ) from None

    def _get_task(self, task_id: int) -> rec.TaskState:
        return _task_state(task_id, self._view(self.contract.functions.getTask(task_id)))

    def is_participant(self, task_id: int, account: str) -> bool:
        return bool(
            self._view(self.contract.functions.isParticipant(task_id, Web3.to_checksum_address(account)))
        )

    def has_submitted(self, task_id: int, round_: int, account: str) -> bool:
        fn = self.contract.functions.hasSubmitted(task_id, round_, Web3.to_checksum_address(account))
        return bool(self._view(fn))

    def sample_cap(self, task_id: int, account: str) -> int:
        """The most samples ``account`` may claim per submission (0: no cap)."""
        return int(self._view(self.contract.functions.sampleCap(task_id, Web3.to_checksum_address(account))))

    def participant_view(self, task_id: int, account: str) -> rec.ParticipantView:
        """``get_task``, ``is_participant``, ``has_submitted`` (current round), ``sample_cap`` and the block time,
        in one call; a task that does not exist is the same ContractRevertError as ``get_task``'s. On a contract
        version from before ``participantView`` the same record comes from the five reads it replaced."""
        if not self.offers("participantView"):
            task = self.get_task(task_id)
            return rec.ParticipantView(
                task,
                self.is_participant(task_id, account),
                self.has_submitted(task_id, task.round, account) if task.round else False,
                self.sample_cap(task_id, account),
                self.block_timestamp(),
            )
        fn = self.contract.functions.participantView(task_id, Web3.to_checksum_address(account))
        try:
            task, allowed, submitted, cap, timestamp = self._view(fn)
        except ContractRevertError as exc:
            if exc.error_name != "FederatedRoundsUnknownTask":
                raise
            self.get_task(task_id)  # raises the helpful message
            raise
        return rec.ParticipantView(
            _task_state(task_id, task), bool(allowed), bool(submitted), int(cap), int(timestamp)
        )

    def private_view(self, task_id: int, account: str) -> rec.PrivateView:
        """The contract's ``privateView`` (a disabled record on contract versions from before private rounds)."""
        if not self.offers("privateView"):
            return rec.PrivateView(False, False, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, False, False, False, 0)
        fn = self.contract.functions.privateView(task_id, Web3.to_checksum_address(account))
        (
            enabled,
            finished,
            phase,
            threshold,
            max_rounds,
            expected,
            keys,
            shares,
            unmasks,
            keys_deadline,
            shares_deadline,
            unmask_deadline,
            posted_keys,
            posted_shares,
            posted_unmask,
            timestamp,
        ) = self._view(fn)
        return rec.PrivateView(
            bool(enabled), bool(finished), int(phase), int(threshold), int(max_rounds), int(expected), int(keys),
            int(shares), int(unmasks), int(keys_deadline), int(shares_deadline), int(unmask_deadline),
            bool(posted_keys), bool(posted_shares), bool(posted_unmask), int(timestamp),
        )  # fmt: skip

    def round_seed(self, task_id: int) -> tuple[int, int, bytes]:
        """(open round, seed block, seed) of a sampled task; seed empty when not drawn (or an older contract)."""
        if not self.offers("roundSeed"):
            return (self.get_task(task_id).round, 0, b"")
        round_, seed_block, seed = self._view(self.contract.functions.roundSeed(task_id))
        return int(round_), int(seed_block), bytes(seed) if int.from_bytes(bytes(seed), "big") else b""

    def committee(self, task_id: int) -> tuple[list[str], int, int]:
        """(members, threshold, epoch) of the task's committee; ([], 0, 0) when it has a single aggregator."""
        if not self.offers("committee"):
            return ([], 0, 0)
        members, threshold, epoch = self._view(self.contract.functions.committee(task_id))
        return [str(m) for m in members], int(threshold), int(epoch)

    def offers(self, function: str) -> bool:
        """Whether the deployed contract version has ``function`` (versions are known by their code hash)."""
        return any(e.get("type") == "function" and e.get("name") == function for e in self.contract.abi)

    def transaction_sender(self, tx_hash: str) -> str:
        """The account that sent transaction ``tx_hash``."""
        return str(self._call(lambda: self.w3.eth.get_transaction(tx_hash)["from"]))  # type: ignore[arg-type]

    def genesis_hash(self) -> str:
        """Hash of block 0: what tells two chains with the same chain id apart (e.g. a devnet and its successor)."""
        return "0x" + bytes(self._call(lambda: self.w3.eth.get_block(0)["hash"])).hex()

    def block_timestamp(self, block: int | None = None) -> int:
        """Timestamp of block number ``block`` (the latest block when None)."""
        if block is None:
            return int(self._call(lambda: self.w3.eth.get_block("latest")["timestamp"]))
        return int(self._call(lambda: self.w3.eth.get_block(block)["timestamp"]))

    def next_block_time(self, latest: int | None = None) -> int:
        """Best guess of the next block's timestamp, which the contract's deadline checks will see.

        An automining devnet mines only on transactions, so its latest block can be far in the past: the next
        block gets at least the wall-clock time (and never less than the latest block's, e.g. after time travel).
        ``latest``: the latest block's timestamp when already known (``participant_view(...).timestamp``), which
        saves a round trip.
        """
        return max((self.block_timestamp() if latest is None else latest) + 1, int(time.time()))

    # ------------------------------------------------------------------ events

    def task_events(self, task_id: int) -> list[rec.TaskEvent]:
        """Every event of the task in chain order (incremental: only new blocks are queried)."""
        return self.events.task_events(task_id)

    def tasks_created(self, task_id: int | None = None) -> list[rec.TaskCreated]:
        if task_id is None:
            return self.events.all_tasks_created()
        return [e for e in self.task_events(task_id) if isinstance(e, rec.TaskCreated)]

    def participant_changes(self, task_id: int) -> list[rec.ParticipantChanged]:
        return [e for e in self.task_events(task_id) if isinstance(e, rec.ParticipantChanged)]

    def rounds_opened(self, task_id: int, round_: int | None = None) -> list[rec.RoundOpened]:
        return [
            e for e in self.task_events(task_id) if isinstance(e, rec.RoundOpened) and _in(e.round, round_)
        ]

    def updates_submitted(self, task_id: int, round_: int | None = None) -> list[rec.UpdateSubmitted]:
        """Submissions in chain order: the position in a round's list is the submission index of the round."""
        return [
            e
            for e in self.task_events(task_id)
            if isinstance(e, rec.UpdateSubmitted) and _in(e.round, round_)
        ]

    def rounds_finalized(self, task_id: int, round_: int | None = None) -> list[rec.RoundFinalized]:
        return [
            e for e in self.task_events(task_id) if isinstance(e, rec.RoundFinalized) and _in(e.round, round_)
        ]

    def rounds_failed(self, task_id: int, round_: int | None = None) -> list[rec.RoundFailed]:
        return [
            e for e in self.task_events(task_id) if isinstance(e, rec.RoundFailed) and _in(e.round, round_)
        ]

    # ------------------------------------------------------------------ plumbing

    def _tx(self, fn: Any, signer: Signer, clock_gas: int | None = None) -> rec.TxResult:
        return _tx_result(self._transact(fn, signer, clock_gas))

    def _transact(self, fn: Any, signer: Signer, clock_gas: int | None = None) -> Any:
        return _send(self.w3, fn, signer, self.tx_timeout, self._revert, clock_gas)

    def _view(self, fn: Any) -> Any:
        """Call a view with an explicit ``from`` (the zero address: a view needs no funds)."""
        return self._call(lambda: lean_call.view(self.w3, fn, self._view_from))

    def _call(self, thunk: Callable[[], T]) -> T:
        try:
            return thunk()
        except REVERTS as exc:
            raise self._revert.decode(revert_data(exc), f"view call: {exc}") from None
        except (requests.RequestException, OSError) as exc:
            raise ChainUnavailableError(f"the Ethereum node stopped answering: {exc}") from None


def _task_state(task_id: int, view: Any) -> rec.TaskState:
    """The contract's TaskView tuple as a record."""
    (
        owner,
        aggregator,
        quorum,
        duration,
        round_,
        is_open,
        deadline,
        submissions,
        count,
        digest,
        cid,
        spec,
        lim,
    ) = view
    return rec.TaskState(
        task_id, owner, aggregator, quorum, duration, round_, is_open, deadline, submissions, count,
        bytes(digest), cid, spec, rec.TaskLimits(*lim),
    )  # fmt: skip


def _in(value: int, wanted: int | None) -> bool:
    return wanted is None or value == wanted


# Reverts that depend only on the clock. A chain that mines on demand (anvil, Hardhat) estimates gas against its
# latest block, whose timestamp can be long past: a round whose deadline passed by the wall clock still looks
# open there. The next block gets the current time, so such a transaction is sent with a fixed gas limit instead.
CLOCK_REVERTS = frozenset(
    {
        "FederatedRoundsRoundStillRunning",
        "FederatedRoundsQuorumReached",
        "FederatedRoundsWrongPhase",
        "FederatedRoundsNotRevealing",
    }
)

# A gas limit above any private-round posting (advertiseKeys, postShares, postUnmask, a private submitUpdate),
# for the clock-gas path above: about 60-110k gas each measured, plus 40 gas per CID byte.
PRIVATE_POSTING_GAS = 250_000


# Accounts per addParticipants transaction: ~4.9M gas, far inside the 2^24 (16,777,216) gas cap per transaction
# of EIP-7825 (Osaka), which 1,000 accounts (~24M gas) would exceed.
ADD_BATCH = 200


def add_participants_gas(accounts: int) -> int:
    """A gas limit above addParticipants of ``accounts`` fresh accounts (26,339 gas each measured at 100)."""
    return 100_000 + 30_000 * accounts


def clock_gas_limit(reasons: bytes) -> int:
    """A gas limit above any finalize/close of ``len(reasons)`` submissions (86,749 gas measured at 1,024)."""
    return 200_000 + 100 * len(reasons)


def _send(
    w3: Web3,
    fn: Any,
    signer: Signer,
    timeout: float,
    decoder: RevertDecoder,
    clock_gas: int | None = None,
) -> Any:
    """Sign (locally when a key is given), send, and wait for the receipt; decode reverts.

    ``clock_gas``: for a transaction that the latest block's old timestamp would refuse (``CLOCK_REVERTS``), send
    it with this gas limit rather than trusting the estimate; the chain then decides in a block of the current time.
    """
    name = getattr(fn, "fn_name", "deploy")
    try:
        try:
            tx_hash = _submit(w3, fn, signer, None)
        except REVERTS as exc:
            error = decoder.decode(revert_data(exc), f"{name}: {exc}")
            if clock_gas is None or getattr(error, "error_name", "") not in CLOCK_REVERTS:
                raise error from None
            tx_hash = _submit(w3, fn, signer, clock_gas)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    except REVERTS as exc:
        raise decoder.decode(revert_data(exc), f"{name}: {exc}") from None
    except TimeExhausted:
        raise ChainError(f"{name}: no receipt after {timeout:.0f} s; is the chain mining?") from None
    except (requests.RequestException, OSError) as exc:
        raise ChainUnavailableError(f"{name}: the Ethereum node stopped answering ({exc})") from None
    except Web3RPCError as exc:
        raise ChainError(
            f"{name}: the node refused the transaction from {signer.address}: {_rpc_message(exc)}"
        ) from None
    if receipt["status"] != 1:
        if name != "deploy":
            _replay_for_reason(fn, signer, name, decoder)
        raise ChainError(f"{name} failed on-chain (tx 0x{bytes(receipt['transactionHash']).hex()})")
    return receipt


def _submit(w3: Web3, fn: Any, signer: Signer, gas: int | None) -> Any:
    """Send the transaction (estimating its gas unless ``gas`` is given); return its hash."""
    params: dict[str, Any] = {"from": signer.address}
    if gas is not None:
        params["gas"] = gas
    if signer.private_key is None:
        return (
            lean_call.transact(w3, fn, signer.address, gas) if hasattr(fn, "fn_name") else fn.transact(params)
        )
    params["nonce"] = w3.eth.get_transaction_count(Web3.to_checksum_address(signer.address), "pending")
    signed = Account.sign_transaction(fn.build_transaction(params), signer.private_key)
    return w3.eth.send_raw_transaction(signed.raw_transaction)


def _replay_for_reason(fn: Any, signer: Signer, name: str, decoder: RevertDecoder) -> None:
    """Raise the contract's own error for a transaction mined as reverted (sent with its own gas limit).

    A reverted transaction changes no contract state, so the same call made now reverts for the same reason; if it
    no longer does (the clock moved past a deadline in between), the caller falls back to a plain failure.
    """
    try:
        fn.call({"from": signer.address})
    except REVERTS as exc:
        raise decoder.decode(revert_data(exc), f"{name}: {exc}") from None


def _rpc_message(exc: Web3RPCError) -> str:
    """The node's own words for a refused transaction, with a hint for the common case of an unfunded signer."""
    message = str(getattr(exc, "message", "") or exc)
    if "insufficient funds" in message.lower():
        message += " (fund this account with ETH for gas, or sign with another one)"
    return message


def _tx_result(receipt: Any) -> rec.TxResult:
    return rec.TxResult(
        "0x" + bytes(receipt["transactionHash"]).hex(), int(receipt["gasUsed"]), int(receipt["blockNumber"])
    )


def embedded_accounts(w3: Web3, count: int) -> list[Signer]:
    """The first ``count`` accounts of the embedded chain, creating and funding more than its ten if needed."""
    return [Signer(a) for a in fund_accounts(w3, count)]
