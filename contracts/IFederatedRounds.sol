// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IFederatedRounds
/// @notice Errors, events and external functions of the fedledger round contract. The events are the public audit
///         schema: an auditor rebuilds every task's history, re-checks every inclusion and exclusion, and re-derives
///         every global model, from them alone (see the README's protocol section).
/// @dev Rounds are numbered from 1. Round r is open from RoundOpened until RoundFinalized or RoundFailed; finalizing
///      or failing round r opens round r + 1 at once, on the new global model or on the same base respectively.
///      Submission i of a round is the i-th UpdateSubmitted event of that round in chain order. A round's outcome
///      is one reason byte per submission: 0 = included, 1..13 = excluded for a named reason (README).
///      A private round (configurePrivacy) runs in phases, each ending at its deadline or as soon as everyone who
///      may post in it has: 1 keys (until keysDeadline, or all `expected` advertised), 2 shares (until
///      sharesDeadline, or every key advertiser posted), 3 uploads (until the round deadline, or every share poster
///      submitted), 4 unmask (until unmaskDeadline, or every submitter posted), 5 closed (finalize or fail).
interface IFederatedRounds {
    // ------------------------------------------------------------------ types

    /// @notice Limits a task is created with; they never change and are emitted in TaskConfigured.
    struct TaskLimits {
        uint64 maxSamples; // most samples one submission may claim (0: no task-wide cap)
        uint64 maxUpdateBytes; // largest update (and global model) in bytes; auditors apply the same limit
        uint64 gracePeriod; // after deadline + gracePeriod anyone may fail a round, quorum or not
        uint32 clientsPerRound; // participants sampled per round from the round's seed (0: everyone)
    }

    /// @notice Everything about a task an off-chain client needs to act on it.
    struct TaskView {
        address owner;
        address aggregator;
        uint32 quorum;
        uint64 roundDuration;
        uint64 round; // the open round, or the last one if none is open (0: never opened)
        bool roundOpen;
        uint64 deadline;
        uint32 submissions; // submissions in `round`
        uint32 participantCount;
        bytes32 modelDigest; // the current base model: initial, or the last finalized global model
        string modelCid;
        string strategy;
        TaskLimits limits;
    }

    /// @notice Everything a participant checks before it trains or submits, read in one call.
    struct ParticipantView {
        TaskView task;
        bool isParticipant; // on the task's allowlist
        bool hasSubmitted; // submitted in `task.round`
        uint64 sampleCap; // most samples it may claim per submission (0: no cap)
        uint64 timestamp; // block.timestamp of the call: the contract's notion of now
    }

    /// @notice A private task's secure-aggregation settings (README, "Private rounds"); fixed once configured.
    struct PrivacyConfig {
        uint32 threshold; // t: shares that rebuild a secret; a round finalizes only with >= t unmask postings
        uint32 maxRounds; // rounds the task may open in all (its privacy budget; 0: no cap)
        uint64 keysPeriod; // seconds from RoundOpened during which keys may be advertised
        uint64 sharesPeriod; // seconds after the keys period during which share bundles may be posted
        uint64 unmaskPeriod; // seconds after the round deadline during which unmask material may be posted
        string params; // canonical privacy spec, e.g. "secagg:clip=1.0,scale_bits=16"
    }

    /// @notice A private task's open round, as a participant or aggregator reads it in one call.
    struct PrivateView {
        bool enabled; // the task is private
        bool finished; // the task spent its rounds (maxRounds): no round is open and none will be
        uint8 phase; // 0 none, 1 keys, 2 shares, 3 uploads, 4 unmask, 5 closed (see IFederatedRounds phases)
        uint32 threshold;
        uint32 maxRounds;
        uint32 expected; // participants on the allowlist when the round opened
        uint32 keys; // keys advertised in the round
        uint32 shares; // share bundles posted in the round
        uint32 unmasks; // unmask postings in the round
        uint64 keysDeadline;
        uint64 sharesDeadline;
        uint64 unmaskDeadline;
        bool postedKeys; // `account` advertised keys in the round
        bool postedShares;
        bool postedUnmask;
        uint64 timestamp; // block.timestamp of the call
    }

    // ------------------------------------------------------------------ errors

    /// @notice No task has this id.
    error FederatedRoundsUnknownTask(uint256 taskId);
    /// @notice Only the task's owner may do this.
    error FederatedRoundsNotOwner(uint256 taskId, address caller);
    /// @notice Only the task's owner or its aggregator may do this.
    error FederatedRoundsNotOwnerOrAggregator(uint256 taskId, address caller);
    /// @notice Only the task's aggregator may do this.
    error FederatedRoundsNotAggregator(uint256 taskId, address caller);
    /// @notice The account is not on the task's allowlist.
    error FederatedRoundsNotParticipant(uint256 taskId, address account);
    /// @notice The account is already on the task's allowlist.
    error FederatedRoundsAlreadyParticipant(uint256 taskId, address account);
    /// @notice A parameter is unusable (zero address, zero or too large quorum, zero or over-long duration, empty
    ///         CID or strategy, zero digest, zero sample count, zero byte limit...); `name` is the parameter's name.
    error FederatedRoundsInvalidParameter(string name);
    /// @notice A round is already open; it must finalize or fail first.
    error FederatedRoundsRoundAlreadyOpen(uint256 taskId, uint64 round);
    /// @notice No round is open on the task (it was never opened).
    error FederatedRoundsNoOpenRound(uint256 taskId);
    /// @notice The call names a round other than the one that is open.
    error FederatedRoundsWrongRound(uint256 taskId, uint64 openRound, uint64 givenRound);
    /// @notice The round's deadline has passed: no more submissions.
    error FederatedRoundsDeadlinePassed(uint256 taskId, uint64 round, uint64 deadline);
    /// @notice The participant already submitted in this round.
    error FederatedRoundsAlreadySubmitted(uint256 taskId, uint64 round, address participant);
    /// @notice The submission claims more samples than the task's or the participant's cap allows.
    error FederatedRoundsTooManySamples(uint256 taskId, address participant, uint64 numSamples, uint64 cap);
    /// @notice Not every (sampled) participant has submitted and the deadline has not passed yet.
    error FederatedRoundsRoundStillRunning(uint256 taskId, uint64 round, uint64 deadline);
    /// @notice Fewer than quorum valid updates (included, or rejected as outliers by a robust rule), or none included.
    error FederatedRoundsQuorumNotMet(uint256 taskId, uint64 round, uint32 count, uint32 quorum);
    /// @notice The reasons do not cover exactly the round's submissions: one byte per submission is required.
    error FederatedRoundsBadReasons(uint256 taskId, uint64 round, uint256 length, uint32 submitted);
    /// @notice A reason byte is not a known reason code (0..13).
    error FederatedRoundsUnknownReason(uint256 taskId, uint64 round);
    /// @notice The round reached quorum and is inside its grace period, so only its aggregator may close it as failed.
    error FederatedRoundsQuorumReached(uint256 taskId, uint64 round, uint32 submitted, uint32 quorum);
    /// @notice The aggregator may fail a round that reached quorum only when fewer than quorum updates are valid
    ///         (included or outlier).
    error FederatedRoundsEnoughValid(uint256 taskId, uint64 round, uint32 valid, uint32 quorum);
    /// @notice The task is full: at most `maxParticipants` participants, and submissions per round.
    error FederatedRoundsTooManyParticipants(uint256 taskId, uint32 maxParticipants);

    /// @notice The task is not private (or a private-only call was made on a plain task).
    error FederatedRoundsNotPrivate(uint256 taskId);
    /// @notice Privacy must be configured once, before the first round opens.
    error FederatedRoundsPrivacyLocked(uint256 taskId);
    /// @notice The call does not belong to the round's current phase (1 keys, 2 shares, 3 uploads, 4 unmask,
    ///         5 closed).
    error FederatedRoundsWrongPhase(uint256 taskId, uint64 round, uint8 phase);
    /// @notice The account already made this posting in this round.
    error FederatedRoundsAlreadyPosted(uint256 taskId, uint64 round, address participant);
    /// @notice The account skipped an earlier step of this round (keys before shares, shares before the upload,
    ///         the upload before unmasking).
    error FederatedRoundsMissingStep(uint256 taskId, uint64 round, address participant);
    /// @notice Fewer than threshold participants posted unmask material: nobody can unmask the round's sum.
    error FederatedRoundsNotUnmasked(uint256 taskId, uint64 round, uint32 unmasks, uint32 threshold);
    /// @notice The task spent its maxRounds rounds: no round is open and none will be.
    error FederatedRoundsTaskFinished(uint256 taskId);

    /// @notice The seed of a sampled round is drawn from block `seedBlock`, which is not mined yet.
    error FederatedRoundsSeedNotReady(uint256 taskId, uint64 round, uint64 seedBlock);
    /// @notice The round's seed was drawn already (RoundSeeded).
    error FederatedRoundsSeedDrawn(uint256 taskId, uint64 round);
    /// @notice The task does not sample (clientsPerRound 0): its rounds have no seed to draw.
    error FederatedRoundsNotSampled(uint256 taskId);
    /// @notice The task registers updates by commit and reveal (commitUpdate, then revealUpdate).
    error FederatedRoundsCommitRevealTask(uint256 taskId);
    /// @notice The task does not use commit and reveal.
    error FederatedRoundsNotCommitReveal(uint256 taskId);
    /// @notice The account already committed in this round.
    error FederatedRoundsAlreadyCommitted(uint256 taskId, uint64 round, address participant);
    /// @notice No commitment of the account in this round, or the reveal does not open it.
    error FederatedRoundsBadReveal(uint256 taskId, uint64 round, address participant);
    /// @notice The round is not in its commit window (block.timestamp < deadline, before everyone committed).
    error FederatedRoundsNotCommitting(uint256 taskId, uint64 round);
    /// @notice The round is not in its reveal window (from the deadline, or once everyone committed, until
    ///         deadline + revealPeriod).
    error FederatedRoundsNotRevealing(uint256 taskId, uint64 round, uint64 revealEnd);
    /// @notice The task is run by a committee: rounds close by attestRound, not finalizeRound.
    error FederatedRoundsCommitteeTask(uint256 taskId);
    /// @notice The task has no committee.
    error FederatedRoundsNoCommittee(uint256 taskId);
    /// @notice The account is not a member of the task's current committee.
    error FederatedRoundsNotCommitteeMember(uint256 taskId, address account);
    /// @notice The member already attested this round (for the current committee).
    error FederatedRoundsAlreadyAttested(uint256 taskId, uint64 round, address member);

    // ------------------------------------------------------------------ events

    /// @notice A task was created. `strategy` names the aggregation rule in canonical form (e.g. "fedavg",
    ///         "fedsgd:lr=0.3") so that an auditor can re-derive every global model from the events alone.
    event TaskCreated(
        uint256 indexed taskId,
        address indexed owner,
        address aggregator,
        bytes32 initialDigest,
        string initialCid,
        uint32 quorum,
        uint64 roundDuration,
        string strategy
    );
    /// @notice The task's limits, emitted once, right after TaskCreated.
    event TaskConfigured(
        uint256 indexed taskId, uint64 maxSamples, uint64 maxUpdateBytes, uint64 gracePeriod, uint32 clientsPerRound
    );
    /// @notice The owner handed the task to another aggregator (takes effect at once, also mid-round).
    event AggregatorChanged(uint256 indexed taskId, address previous, address aggregator);
    /// @notice An account joined the task's allowlist; `maxSamples` caps what it may claim (0: task cap only).
    event ParticipantAdded(uint256 indexed taskId, address indexed participant, uint64 maxSamples);
    /// @notice An account left the task's allowlist.
    event ParticipantRemoved(uint256 indexed taskId, address indexed participant);
    /// @notice A round opened; submissions are accepted while block.timestamp < deadline. `seed` selects the round's
    ///         clients when the task samples (keccak256 of the previous block hash, task id and round).
    event RoundOpened(uint256 indexed taskId, uint64 indexed round, uint64 deadline, bytes32 baseDigest, bytes32 seed);
    /// @notice A participant registered its update: sha256 `digest` of the canonical bytes, stored under `cid`.
    event UpdateSubmitted(
        uint256 indexed taskId,
        uint64 indexed round,
        address indexed participant,
        bytes32 digest,
        string cid,
        uint64 numSamples
    );
    /// @notice The aggregator committed the round's global model and the outcome of every submission.
    /// @dev `reasons[i]` is the outcome of submission i (0: included). `includedRoot` = keccak256(reasons) and
    ///      `numIncluded` = the number of zero bytes; the contract computes both, so they always agree. At least one
    ///      update is included and at least quorum are valid (included or outlier, code 12).
    event RoundFinalized(
        uint256 indexed taskId,
        uint64 indexed round,
        bytes32 globalDigest,
        string globalCid,
        bytes32 includedRoot,
        uint32 numIncluded,
        bytes reasons
    );
    /// @notice The round closed without a global model; the next round opens on the same base. `reasons` is empty
    ///         when the round was closed below quorum or after its grace period, else the aggregator's outcome of
    ///         every submission (fewer than quorum of them valid).
    event RoundFailed(uint256 indexed taskId, uint64 indexed round, address closedBy, bytes reasons);

    /// @notice Task `taskId` runs private rounds (secure aggregation with a public transcript); emitted once,
    ///         before its first round opened.
    event TaskPrivacyConfigured(
        uint256 indexed taskId,
        uint32 threshold,
        uint32 maxRounds,
        uint64 keysPeriod,
        uint64 sharesPeriod,
        uint64 unmaskPeriod,
        string params
    );
    /// @notice Step 1 of a private round: the participant's X25519 public keys (envelopes, masks) and the
    ///         commitment to its self-mask seed.
    event RoundKeysAdvertised(
        uint256 indexed taskId,
        uint64 indexed round,
        address indexed participant,
        bytes32 encryptionKey,
        bytes32 maskKey,
        bytes32 seedCommitment
    );
    /// @notice Step 2: the participant's sealed share bundle, sha256 `digest`, stored under `cid`.
    event RoundSharesPosted(
        uint256 indexed taskId, uint64 indexed round, address indexed participant, bytes32 digest, string cid
    );
    /// @notice Step 4: the participant's revealed shares (unmask material), sha256 `digest`, stored under `cid`.
    event RoundUnmaskPosted(
        uint256 indexed taskId, uint64 indexed round, address indexed participant, bytes32 digest, string cid
    );
    /// @notice A private task spent its maxRounds rounds after round `lastRound` closed: no further round opens.
    event TaskFinished(uint256 indexed taskId, uint64 lastRound);

    /// @notice A sampled round's seed, drawn at first use from the hash of `seedBlock` (the block after the
    ///         round opened; a later one if that hash had expired); it replaces RoundOpened.seed (zero for sampled
    ///         tasks) in selecting the round's clients.
    event RoundSeeded(uint256 indexed taskId, uint64 indexed round, uint64 seedBlock, bytes32 seed);
    /// @notice The task registers updates by commit and reveal; `revealPeriod` seconds follow each deadline.
    event TaskCommitRevealConfigured(uint256 indexed taskId, uint64 revealPeriod);
    /// @notice A participant committed to keccak256(abi.encode(digest, participant, salt)) for the round.
    event UpdateCommitted(
        uint256 indexed taskId, uint64 indexed round, address indexed participant, bytes32 commitment
    );
    /// @notice The salt that opened the participant's commitment; emitted with its UpdateSubmitted.
    event UpdateRevealed(uint256 indexed taskId, uint64 indexed round, address indexed participant, bytes32 salt);
    /// @notice The task's aggregators are now `members`; a round closes once `threshold` of them attest the same
    ///         outcome. `epoch` numbers committees: attestations of an earlier one no longer count.
    event CommitteeChanged(uint256 indexed taskId, address[] members, uint16 threshold, uint64 epoch);
    /// @notice A committee member's outcome for the round: the global model (zero digest: the round fails) and one
    ///         reason byte per submission.
    event RoundAttested(
        uint256 indexed taskId,
        uint64 indexed round,
        address indexed member,
        bytes32 globalDigest,
        string globalCid,
        bytes reasons
    );

    // ------------------------------------------------------------------ views

    /// @notice Number of tasks created; task ids run from 1 to taskCount().
    function taskCount() external view returns (uint256);

    /// @notice The state of task `taskId`.
    function getTask(uint256 taskId) external view returns (TaskView memory);

    /// @notice Whether `account` is on the allowlist of task `taskId`.
    function isParticipant(uint256 taskId, address account) external view returns (bool);

    /// @notice Whether `account` submitted in round `round` of task `taskId` (only the open or last round is kept).
    function hasSubmitted(uint256 taskId, uint64 round, address account) external view returns (bool);

    /// @notice The most samples `account` may claim in one submission to task `taskId` (0: no cap).
    function sampleCap(uint256 taskId, address account) external view returns (uint64);

    /// @notice getTask, isParticipant, hasSubmitted (in the task's current round) and sampleCap for `account`, with
    ///         the block's timestamp, in one call: what a participant checks before it trains or submits.
    function participantView(uint256 taskId, address account) external view returns (ParticipantView memory);

    /// @notice Task `taskId`'s privacy settings and its open round's phase, counts and deadlines, and what
    ///         `account` posted in that round.
    function privateView(uint256 taskId, address account) external view returns (PrivateView memory);

    /// @notice The open round of task `taskId` and its seed state (seed zero: not drawn yet, or not sampled).
    function roundSeed(uint256 taskId) external view returns (uint64 round, uint64 seedBlock, bytes32 seed);

    /// @notice Task `taskId`'s committee (empty when it has one aggregator), its threshold and epoch.
    function committee(uint256 taskId) external view returns (address[] memory members, uint16 threshold, uint64 epoch);

    // ------------------------------------------------------------------ mutations

    /// @notice Create a task owned by the caller. The first round is opened later with openRound.
    function createTask(
        address aggregator,
        bytes32 initialDigest,
        string calldata initialCid,
        uint32 quorum,
        uint64 roundDuration,
        string calldata strategy,
        TaskLimits calldata limits
    ) external returns (uint256 taskId);

    /// @notice Make task `taskId` private (owner only, once, before its first round opens). Requires no sampling
    ///         (clientsPerRound 0), 1 <= threshold <= quorum, positive periods with keysPeriod + sharesPeriod <
    ///         roundDuration, and a non-empty params spec.
    function configurePrivacy(uint256 taskId, PrivacyConfig calldata config) external;

    /// @notice Step 1: advertise the caller's keys for round `round` (keys phase; once per round).
    function advertiseKeys(
        uint256 taskId,
        uint64 round,
        bytes32 encryptionKey,
        bytes32 maskKey,
        bytes32 seedCommitment
    ) external;

    /// @notice Step 2: register the caller's share bundle (shares phase; after advertising keys; once).
    function postShares(uint256 taskId, uint64 round, bytes32 digest, string calldata cid) external;

    /// @notice Step 4: register the caller's unmask material (unmask phase; after submitting; once).
    function postUnmask(uint256 taskId, uint64 round, bytes32 digest, string calldata cid) external;

    /// @notice Draw the open round's seed of a sampled task (anyone; submissions draw it too).
    function drawSeed(uint256 taskId) external;

    /// @notice Make task `taskId` register updates by commit and reveal (owner, once, before its first round; not
    ///         with private rounds).
    function configureCommitReveal(uint256 taskId, uint64 revealPeriod) external;

    /// @notice Commit to an update for round `round`: keccak256(abi.encode(digest, msg.sender, salt)).
    function commitUpdate(uint256 taskId, uint64 round, bytes32 commitment) external;

    /// @notice Reveal the committed update: registers it exactly like submitUpdate (UpdateSubmitted), plus
    ///         UpdateRevealed with the salt.
    function revealUpdate(
        uint256 taskId,
        uint64 round,
        bytes32 digest,
        string calldata cid,
        uint64 numSamples,
        bytes32 salt
    ) external;

    /// @notice Make `members` the task's aggregators, closing each round once `threshold` of them attest the same
    ///         outcome (owner only; any time; 1 <= threshold <= members <= 16, distinct, nonzero).
    function setCommittee(uint256 taskId, address[] calldata members, uint16 threshold) external;

    /// @notice A committee member's outcome of round `round` (zero `globalDigest` and empty `globalCid`: the round
    ///         fails with these reasons). The threshold-th matching attestation finalizes or fails the round.
    function attestRound(
        uint256 taskId,
        uint64 round,
        bytes32 globalDigest,
        string calldata globalCid,
        bytes calldata reasons
    ) external;

    /// @notice Hand the task to another aggregator (owner only).
    function setAggregator(uint256 taskId, address aggregator) external;

    /// @notice Add `account` to the allowlist with its own sample cap (owner only; 0: the task cap only).
    function addParticipant(uint256 taskId, address account, uint64 maxSamples) external;

    /// @notice addParticipant for each `accounts[i]` with cap `maxSamples[i]`, in one transaction (owner only): one
    ///         ParticipantAdded per account, in order; the whole batch reverts if any account is refused.
    function addParticipants(uint256 taskId, address[] calldata accounts, uint64[] calldata maxSamples) external;

    /// @notice Remove `account` from the allowlist (owner only).
    function removeParticipant(uint256 taskId, address account) external;

    /// @notice Open the first round (owner or aggregator). Later rounds open on their own.
    function openRound(uint256 taskId) external;

    /// @notice Register the caller's update for the open round `round`.
    function submitUpdate(uint256 taskId, uint64 round, bytes32 digest, string calldata cid, uint64 numSamples)
        external;

    /// @notice Commit round `round`'s global model with one reason byte per submission (aggregator only) and open
    ///         the next round on it.
    function finalizeRound(
        uint256 taskId,
        uint64 round,
        bytes32 globalDigest,
        string calldata globalCid,
        bytes calldata reasons
    ) external;

    /// @notice Close round `round` as failed once its deadline passed: anyone when it is below quorum or past its
    ///         grace period; the aggregator also inside the grace period when its `reasons` (one byte per
    ///         submission) name fewer than quorum valid updates. The next round opens on the same base.
    function closeFailedRound(uint256 taskId, uint64 round, bytes calldata reasons) external;
}
