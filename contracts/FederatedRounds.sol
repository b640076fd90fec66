// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IFederatedRounds} from "./IFederatedRounds.sol";

/// @title FederatedRounds
/// @notice One contract hosting many federated-learning tasks: allowlists, rounds, update registrations and the
///         global models the aggregator commits. Its events are the audit log (see IFederatedRounds).
/// @dev Gas: a submission writes no fresh slot. The participant's slot (allowed flag + last round submitted) already
///      exists since addParticipant and the round slot (round, deadline, submissions, participantCount) since
///      openRound, so submitUpdate costs two cold reads and two nonzero-to-nonzero writes whatever the task's size.
///      The update's CID lives in the event only.
contract FederatedRounds is IFederatedRounds {
    /// @dev Longest round allowed; keeps `block.timestamp + roundDuration` far inside uint64.
    uint64 private constant MAX_ROUND_DURATION = type(uint32).max;
    /// @dev Width of the inclusion bitmap: most participants per task, and most submissions per round.
    uint32 private constant MAX_PARTICIPANTS = 256;

    /// @dev Per task. Fields are ordered so that each commented group packs into one slot.
    struct Task {
        // slot 0: read by finalizeRound
        address aggregator;
        uint32 quorum;
        uint64 roundDuration;
        // slot 1: the round state, the only task slot submitUpdate reads and writes
        uint64 round;
        uint64 deadline;
        uint32 submissions;
        uint32 participantCount;
        // slot 2
        address owner;
        // slots 3..5
        bytes32 modelDigest;
        string modelCid;
        string strategy;
    }

    /// @dev Per (task, account): one slot, nonzero from addParticipant on.
    struct Member {
        bool allowed;
        uint64 lastSubmitted; // last round this account submitted in (0: never); kept across removal
    }

    uint256 private _taskCount;
    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => mapping(address account => Member)) private _members;

    // ------------------------------------------------------------------ views

    /// @inheritdoc IFederatedRounds
    function taskCount() external view returns (uint256) {
        return _taskCount;
    }

    /// @inheritdoc IFederatedRounds
    function getTask(uint256 taskId) external view returns (TaskView memory) {
        Task storage t = _existingTask(taskId);
        return TaskView({
            owner: t.owner,
            aggregator: t.aggregator,
            quorum: t.quorum,
            roundDuration: t.roundDuration,
            round: t.round,
            roundOpen: t.round != 0,
            deadline: t.deadline,
            submissions: t.submissions,
            participantCount: t.participantCount,
            modelDigest: t.modelDigest,
            modelCid: t.modelCid,
            strategy: t.strategy
        });
    }

    /// @inheritdoc IFederatedRounds
    function isParticipant(uint256 taskId, address account) external view returns (bool) {
        return _members[taskId][account].allowed;
    }

    /// @inheritdoc IFederatedRounds
    function hasSubmitted(uint256 taskId, uint64 round, address account) external view returns (bool) {
        return round != 0 && _members[taskId][account].lastSubmitted == round;
    }

    // ------------------------------------------------------------------ mutations

    /// @inheritdoc IFederatedRounds
    function createTask(
        address aggregator,
        bytes32 initialDigest,
        string calldata initialCid,
        uint32 quorum,
        uint64 roundDuration,
        string calldata strategy
    ) external returns (uint256 taskId) {
        if (aggregator == address(0)) revert FederatedRoundsInvalidParameter("aggregator");
        if (initialDigest == bytes32(0)) revert FederatedRoundsInvalidParameter("initialDigest");
        if (bytes(initialCid).length == 0) revert FederatedRoundsInvalidParameter("initialCid");
        if (quorum == 0) revert FederatedRoundsInvalidParameter("quorum");
        if (roundDuration == 0 || roundDuration > MAX_ROUND_DURATION) {
            revert FederatedRoundsInvalidParameter("roundDuration");
        }
        if (bytes(strategy).length == 0) revert FederatedRoundsInvalidParameter("strategy");

        taskId = ++_taskCount;
        Task storage t = _tasks[taskId];
        t.aggregator = aggregator;
        t.quorum = quorum;
        t.roundDuration = roundDuration;
        t.owner = msg.sender;
        t.modelDigest = initialDigest;
        t.modelCid = initialCid;
        t.strategy = strategy;
        emit TaskCreated(taskId, msg.sender, aggregator, initialDigest, initialCid, quorum, roundDuration, strategy);
    }

    /// @inheritdoc IFederatedRounds
    function addParticipant(uint256 taskId, address account) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner) revert FederatedRoundsNotOwner(taskId, msg.sender);
        if (account == address(0)) revert FederatedRoundsInvalidParameter("account");
        Member storage m = _members[taskId][account];
        if (m.allowed) revert FederatedRoundsAlreadyParticipant(taskId, account);
        if (t.participantCount >= MAX_PARTICIPANTS) revert FederatedRoundsTooManyParticipants(taskId, MAX_PARTICIPANTS);

        m.allowed = true;
        t.participantCount += 1;
        emit ParticipantAdded(taskId, account);
    }

    /// @inheritdoc IFederatedRounds
    function removeParticipant(uint256 taskId, address account) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner) revert FederatedRoundsNotOwner(taskId, msg.sender);
        Member storage m = _members[taskId][account];
        if (!m.allowed) revert FederatedRoundsNotParticipant(taskId, account);

        m.allowed = false; // lastSubmitted stays, so leaving and rejoining cannot buy a second submission
        t.participantCount -= 1;
        emit ParticipantRemoved(taskId, account);
    }

    /// @inheritdoc IFederatedRounds
    /// @dev A caller who is neither owner nor aggregator gets FederatedRoundsNotOwner.
    function openRound(uint256 taskId) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner && msg.sender != t.aggregator) revert FederatedRoundsNotOwner(taskId, msg.sender);
        if (t.round != 0) revert FederatedRoundsRoundAlreadyOpen(taskId, t.round);

        _openRound(taskId, t, 1);
    }

    /// @inheritdoc IFederatedRounds
    function submitUpdate(uint256 taskId, uint64 round, bytes32 digest, string calldata cid, uint64 numSamples)
        external
    {
        Member storage m = _members[taskId][msg.sender];
        if (!m.allowed) {
            _existingTask(taskId); // an unknown task has no participants: name the real cause
            revert FederatedRoundsNotParticipant(taskId, msg.sender);
        }
        Task storage t = _tasks[taskId];
        uint64 open = t.round;
        if (open == 0) revert FederatedRoundsNoOpenRound(taskId);
        if (round != open) revert FederatedRoundsWrongRound(taskId, open, round);
        if (block.timestamp >= t.deadline) revert FederatedRoundsDeadlinePassed(taskId, round, t.deadline);
        if (m.lastSubmitted == round) revert FederatedRoundsAlreadySubmitted(taskId, round, msg.sender);
        // Reachable only through leave-and-rejoin churn; keeps every submission index inside the bitmap.
        if (t.submissions >= MAX_PARTICIPANTS) revert FederatedRoundsTooManyParticipants(taskId, MAX_PARTICIPANTS);
        if (digest == bytes32(0)) revert FederatedRoundsInvalidParameter("digest");
        if (bytes(cid).length == 0) revert FederatedRoundsInvalidParameter("cid");
        if (numSamples == 0) revert FederatedRoundsInvalidParameter("numSamples");

        m.lastSubmitted = round;
        t.submissions += 1;
        emit UpdateSubmitted(taskId, round, msg.sender, digest, cid, numSamples);
    }

    /// @inheritdoc IFederatedRounds
    /// @dev Allowed once every allowlisted participant has submitted, or once the deadline has passed.
    function finalizeRound(
        uint256 taskId,
        uint64 round,
        bytes32 globalDigest,
        string calldata globalCid,
        bytes32 includedRoot,
        uint32 numIncluded
    ) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.aggregator) revert FederatedRoundsNotAggregator(taskId, msg.sender);
        _checkOpenRound(taskId, t, round);
        uint32 submitted = t.submissions;
        if (submitted < t.participantCount && block.timestamp < t.deadline) {
            revert FederatedRoundsRoundStillRunning(taskId, round, t.deadline);
        }
        if (numIncluded < t.quorum) revert FederatedRoundsQuorumNotMet(taskId, round, numIncluded, t.quorum);
        if (numIncluded > submitted) revert FederatedRoundsTooManyIncluded(taskId, round, numIncluded, submitted);
        if (globalDigest == bytes32(0)) revert FederatedRoundsInvalidParameter("globalDigest");
        if (bytes(globalCid).length == 0) revert FederatedRoundsInvalidParameter("globalCid");
        uint256 bitmap = uint256(includedRoot);
        if (bitmap >> submitted != 0 || _popCount(bitmap) != numIncluded) {
            revert FederatedRoundsBadInclusion(taskId, round, includedRoot);
        }

        t.modelDigest = globalDigest;
        t.modelCid = globalCid;
        emit RoundFinalized(taskId, round, globalDigest, globalCid, includedRoot, numIncluded);
        _openRound(taskId, t, round + 1);
    }

    /// @inheritdoc IFederatedRounds
    function closeFailedRound(uint256 taskId, uint64 round) external {
        Task storage t = _existingTask(taskId);
        _checkOpenRound(taskId, t, round);
        if (block.timestamp < t.deadline) revert FederatedRoundsRoundStillRunning(taskId, round, t.deadline);
        // With quorum reached only the aggregator may give up on the round: it does so when fewer than `quorum`
        // of the submitted updates are valid (it cannot finalize those), so the task never gets stuck.
        if (t.submissions >= t.quorum && msg.sender != t.aggregator) {
            revert FederatedRoundsQuorumReached(taskId, round, t.submissions, t.quorum);
        }

        emit RoundFailed(taskId, round); // failing changes no state of its own: the next round replaces it
        _openRound(taskId, t, round + 1);
    }

    // ------------------------------------------------------------------ internals

    /// @dev The task `taskId`, or a revert if there is none.
    function _existingTask(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.owner == address(0)) revert FederatedRoundsUnknownTask(taskId);
    }

    /// @dev Reverts unless `round` is the task's open round.
    function _checkOpenRound(uint256 taskId, Task storage t, uint64 round) private view {
        uint64 open = t.round;
        if (open == 0) revert FederatedRoundsNoOpenRound(taskId);
        if (round != open) revert FederatedRoundsWrongRound(taskId, open, round);
    }

    /// @dev Number of set bits in `x` (SWAR: 2-, 4-, then 8-bit partial sums, added up by one multiplication).
    function _popCount(uint256 x) private pure returns (uint256) {
        if (x == type(uint256).max) return 256; // the one count that does not fit the final byte
        unchecked {
            uint256 all = type(uint256).max;
            x -= (x >> 1) & (all / 3); // 0x55..: pairs
            x = (x & (all / 5)) + ((x >> 2) & (all / 5)); // 0x33..: nibbles
            x = (x + (x >> 4)) & (all / 17); // 0x0f..: bytes
            return (x * (all / 255)) >> 248; // 0x01..: sum of all bytes lands in the top byte
        }
    }

    /// @dev Open round `round` on the task's current model, for `roundDuration` seconds from now.
    function _openRound(uint256 taskId, Task storage t, uint64 round) private {
        uint64 deadline = uint64(block.timestamp) + t.roundDuration;
        t.round = round;
        t.deadline = deadline;
        t.submissions = 0;
        emit RoundOpened(taskId, round, deadline, t.modelDigest);
    }
}
