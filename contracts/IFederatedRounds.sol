// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title IFederatedRounds
/// @notice Errors, events and external functions of the fedledger round contract. The events are the public audit
///         schema: an auditor rebuilds every task's history, and re-derives every global model, from them alone.
/// @dev Rounds are numbered from 1. Round r is open from RoundOpened until RoundFinalized or RoundFailed; finalizing
///      or failing round r opens round r + 1 at once, on the new global model or on the same base respectively.
interface IFederatedRounds {
    // ------------------------------------------------------------------ errors

    /// @notice No task has this id.
    error FederatedRoundsUnknownTask(uint256 taskId);
    /// @notice Only the task's owner may do this.
    error FederatedRoundsNotOwner(uint256 taskId, address caller);
    /// @notice Only the task's aggregator may do this.
    error FederatedRoundsNotAggregator(uint256 taskId, address caller);
    /// @notice The account is not on the task's allowlist.
    error FederatedRoundsNotParticipant(uint256 taskId, address account);
    /// @notice The account is already on the task's allowlist.
    error FederatedRoundsAlreadyParticipant(uint256 taskId, address account);
    /// @notice A parameter is unusable (zero address, zero quorum, zero or over-long duration, empty CID or
    ///         strategy, zero digest, zero sample count); `name` is the parameter's name.
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
    /// @notice Not every participant has submitted and the deadline has not passed yet.
    error FederatedRoundsRoundStillRunning(uint256 taskId, uint64 round, uint64 deadline);
    /// @notice Fewer updates than the quorum (submitted, or claimed as included).
    error FederatedRoundsQuorumNotMet(uint256 taskId, uint64 round, uint32 count, uint32 quorum);
    /// @notice The aggregator claims to include more updates than were submitted.
    error FederatedRoundsTooManyIncluded(uint256 taskId, uint64 round, uint32 numIncluded, uint32 submitted);
    /// @notice The round reached quorum, so only its aggregator may close it as failed (it must finalize it, or
    ///         fail it when too few updates are valid).
    error FederatedRoundsQuorumReached(uint256 taskId, uint64 round, uint32 submitted, uint32 quorum);
    /// @notice The inclusion bitmap does not name exactly `numIncluded` of the round's submissions (its population
    ///         count differs from numIncluded, or a bit points past the last submission).
    error FederatedRoundsBadInclusion(uint256 taskId, uint64 round, bytes32 includedRoot);
    /// @notice The task is full: the inclusion bitmap has room for `maxParticipants` submissions per round.
    error FederatedRoundsTooManyParticipants(uint256 taskId, uint32 maxParticipants);

    // ------------------------------------------------------------------ events

    /// @notice A task was created. `strategy` names the aggregation rule (e.g. "fedavg", "fedsgd:lr=0.5") so that
    ///         an auditor can re-derive every global model from the events alone.
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
    /// @notice An account joined the task's allowlist.
    event ParticipantAdded(uint256 indexed taskId, address indexed participant);
    /// @notice An account left the task's allowlist.
    event ParticipantRemoved(uint256 indexed taskId, address indexed participant);
    /// @notice A round opened; submissions are accepted while block.timestamp < deadline.
    event RoundOpened(uint256 indexed taskId, uint64 indexed round, uint64 deadline, bytes32 baseDigest);
    /// @notice A participant registered its update: sha256 `digest` of the canonical bytes, stored under `cid`.
    event UpdateSubmitted(
        uint256 indexed taskId,
        uint64 indexed round,
        address indexed participant,
        bytes32 digest,
        string cid,
        uint64 numSamples
    );
    /// @notice The aggregator committed the round's global model and which updates it used.
    /// @dev `includedRoot` is a 256-bit bitmap over the round's submissions in chain order: bit i set means the i-th
    ///      UpdateSubmitted of the round is in the global model (see fedledger/inclusion.py). The contract checks
    ///      that exactly `numIncluded` bits are set and none points past the last submission.
    event RoundFinalized(
        uint256 indexed taskId,
        uint64 indexed round,
        bytes32 globalDigest,
        string globalCid,
        bytes32 includedRoot,
        uint32 numIncluded
    );
    /// @notice The round's deadline passed below quorum; the next round opens on the same base model.
    event RoundFailed(uint256 indexed taskId, uint64 indexed round);

    // ------------------------------------------------------------------ views

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
    }

    /// @notice Number of tasks created; task ids run from 1 to taskCount().
    function taskCount() external view returns (uint256);

    /// @notice The state of task `taskId`.
    function getTask(uint256 taskId) external view returns (TaskView memory);

    /// @notice Whether `account` is on the allowlist of task `taskId`.
    function isParticipant(uint256 taskId, address account) external view returns (bool);

    /// @notice Whether `account` submitted in round `round` of task `taskId` (only the open or last round is kept).
    function hasSubmitted(uint256 taskId, uint64 round, address account) external view returns (bool);

    // ------------------------------------------------------------------ mutations

    /// @notice Create a task owned by the caller. The first round is opened later with openRound.
    function createTask(
        address aggregator,
        bytes32 initialDigest,
        string calldata initialCid,
        uint32 quorum,
        uint64 roundDuration,
        string calldata strategy
    ) external returns (uint256 taskId);

    /// @notice Add `account` to the allowlist (owner only; at most 256 participants, the bitmap's width).
    function addParticipant(uint256 taskId, address account) external;

    /// @notice Remove `account` from the allowlist (owner only).
    function removeParticipant(uint256 taskId, address account) external;

    /// @notice Open the first round (owner or aggregator). Later rounds open on their own.
    function openRound(uint256 taskId) external;

    /// @notice Register the caller's update for the open round `round`.
    function submitUpdate(uint256 taskId, uint64 round, bytes32 digest, string calldata cid, uint64 numSamples)
        external;

    /// @notice Commit round `round`'s global model (aggregator only) and open the next round on it.
    function finalizeRound(
        uint256 taskId,
        uint64 round,
        bytes32 globalDigest,
        string calldata globalCid,
        bytes32 includedRoot,
        uint32 numIncluded
    ) external;

    /// @notice Close round `round` as failed once its deadline passed: anyone when it is below quorum, the aggregator
    ///         also when fewer than quorum of the submitted updates are valid. The next round opens on the same base.
    function closeFailedRound(uint256 taskId, uint64 round) external;
}
