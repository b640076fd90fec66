// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IFederatedRounds} from "./IFederatedRounds.sol";

/// @title FederatedRounds
/// @notice One contract hosting many federated-learning tasks: allowlists with sample caps, rounds with deadlines and
///         grace periods, update registrations, and the global models the aggregator commits together with the
///         outcome (included, or excluded with a reason) of every submission. Its events are the audit log.
/// @dev Gas: a submission writes no fresh slot. The participant's slot (allowed flag, last round submitted, cap)
///      exists since addParticipant and the round slot (round, deadline, submissions, participantCount, task cap)
///      since openRound, so submitUpdate costs two cold reads and two nonzero-to-nonzero writes whatever the task's
///      size. Finalize reads the reason bytes 32 at a time (SWAR), so it grows by a few hundred gas per 32
///      submissions plus calldata and log bytes.
contract FederatedRounds is IFederatedRounds {
    /// @dev Longest round and grace period allowed; keeps `block.timestamp + roundDuration` far inside uint64.
    uint64 private constant MAX_DURATION = type(uint32).max;
    /// @dev Most participants per task, and most submissions per round (bounds one finalize's calldata and log).
    uint32 private constant MAX_PARTICIPANTS = 4096;
    /// @dev Highest reason code (13: not_sampled) and the outlier code; see the README for the table.
    uint256 private constant MAX_REASON = 13;
    uint256 private constant OUTLIER = 12;
    /// @dev Byte-wise SWAR masks.
    uint256 private constant LOW7 = 0x7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f;
    uint256 private constant HIGH = 0x8080808080808080808080808080808080808080808080808080808080808080;
    uint256 private constant ONES = 0x0101010101010101010101010101010101010101010101010101010101010101;

    /// @dev Per task. Fields are ordered so that each commented group packs into one slot.
    struct Task {
        // slot 0: read by finalizeRound
        address aggregator;
        uint32 quorum;
        uint64 roundDuration;
        // slot 1: the round state, the only task slot submitUpdate reads and writes
        uint64 round;
        uint64 deadline;
        uint16 submissions; // <= MAX_PARTICIPANTS
        uint16 participantCount; // <= MAX_PARTICIPANTS
        uint8 modes; // MODE_* bits: which optional state this task has (read with the round, at no extra cost)
        uint64 maxSamples;
        // slot 2
        address owner;
        uint32 clientsPerRound;
        uint64 gracePeriod;
        // slot 3
        uint64 maxUpdateBytes;
        // slots 4..6
        bytes32 modelDigest;
        string modelCid;
        string strategy;
    }

    /// @dev Per (task, account): one slot, nonzero from addParticipant on.
    struct Member {
        bool allowed;
        uint64 lastSubmitted; // last round this account submitted in (0: never); kept across removal
        uint64 maxSamples; // the account's own cap (0: none)
        uint64 lastCommitted; // last round this account committed in (commit-reveal tasks; 0: never)
    }

    /// @dev Per sampled task: the open round's seed, drawn at first use from the hash of seedBlock.
    struct RoundSeed {
        uint64 round;
        uint64 seedBlock;
        bytes32 seed;
    }

    /// @dev Per commit-reveal task: its reveal period and the open round's commit count.
    struct Reveals {
        uint64 revealPeriod;
        uint16 expected; // participants on the allowlist when the round opened
        uint16 commits;
    }

    /// @dev Per committee task: who attests (members of `epoch`), and how many must agree.
    struct Committee {
        uint64 epoch;
        uint16 threshold;
        address[] members;
    }

    /// @dev Per private task: its settings and its open round's phase state (two slots plus the params string).
    struct Privacy {
        // slot 0
        bool enabled;
        bool finished;
        uint32 threshold;
        uint32 maxRounds;
        uint32 expected;
        uint32 keys;
        uint32 shares;
        uint32 unmasks;
        // slot 1
        uint64 keysPeriod;
        uint64 sharesPeriod;
        uint64 unmaskPeriod;
        // slot 2
        uint64 keysDeadline;
        uint64 sharesDeadline;
        uint64 unmaskDeadline;
        string params;
    }

    /// @dev Per (private task, account): the last round of each private posting (0: never).
    struct PrivateMember {
        uint64 keysRound;
        uint64 sharesRound;
        uint64 unmaskRound;
    }

    /// @dev Task.modes bits.
    uint8 private constant MODE_PRIVATE = 1;
    uint8 private constant MODE_SAMPLED = 2;
    uint8 private constant MODE_COMMIT_REVEAL = 4;
    uint8 private constant MODE_COMMITTEE = 8;
    /// @dev Largest committee.
    uint256 private constant MAX_COMMITTEE = 16;

    uint8 private constant PHASE_NONE = 0;
    uint8 private constant PHASE_KEYS = 1;
    uint8 private constant PHASE_SHARES = 2;
    uint8 private constant PHASE_UPLOADS = 3;
    uint8 private constant PHASE_UNMASK = 4;
    uint8 private constant PHASE_CLOSED = 5;

    uint256 private _taskCount;
    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => mapping(address account => Member)) private _members;
    mapping(uint256 taskId => Privacy) private _privacy;
    mapping(uint256 taskId => mapping(address account => PrivateMember)) private _privateMembers;
    mapping(uint256 taskId => RoundSeed) private _seeds;
    mapping(uint256 taskId => Reveals) private _reveals;
    mapping(uint256 taskId => mapping(address account => bytes32)) private _commitments;
    mapping(uint256 taskId => Committee) private _committees;
    mapping(uint256 taskId => mapping(address account => uint64)) private _memberEpoch;
    /// @dev keccak256(round, epoch, member) -> 1 once attested; keccak256(round, epoch, outcome) -> agreeing count.
    mapping(uint256 taskId => mapping(bytes32 key => uint256)) private _attestations;

    // ------------------------------------------------------------------ views

    /// @inheritdoc IFederatedRounds
    function taskCount() external view returns (uint256) {
        return _taskCount;
    }

    /// @inheritdoc IFederatedRounds
    function getTask(uint256 taskId) external view returns (TaskView memory) {
        return _taskView(taskId, _existingTask(taskId));
    }

    /// @inheritdoc IFederatedRounds
    function isParticipant(uint256 taskId, address account) external view returns (bool) {
        return _members[taskId][account].allowed;
    }

    /// @inheritdoc IFederatedRounds
    function hasSubmitted(uint256 taskId, uint64 round, address account) external view returns (bool) {
        return round != 0 && _members[taskId][account].lastSubmitted == round;
    }

    /// @inheritdoc IFederatedRounds
    function sampleCap(uint256 taskId, address account) external view returns (uint64) {
        return _cap(_tasks[taskId].maxSamples, _members[taskId][account].maxSamples);
    }

    /// @inheritdoc IFederatedRounds
    function participantView(uint256 taskId, address account) external view returns (ParticipantView memory) {
        Task storage t = _existingTask(taskId);
        Member storage m = _members[taskId][account];
        return ParticipantView({
            task: _taskView(taskId, t),
            isParticipant: m.allowed,
            hasSubmitted: t.round != 0 && m.lastSubmitted == t.round,
            sampleCap: _cap(t.maxSamples, m.maxSamples),
            timestamp: uint64(block.timestamp)
        });
    }

    /// @inheritdoc IFederatedRounds
    function privateView(uint256 taskId, address account) external view returns (PrivateView memory) {
        Task storage t = _existingTask(taskId);
        Privacy storage p = _privacy[taskId];
        PrivateMember storage pm = _privateMembers[taskId][account];
        uint64 round = t.round;
        return PrivateView({
            enabled: p.enabled,
            finished: p.finished,
            phase: _phase(t, p),
            threshold: p.threshold,
            maxRounds: p.maxRounds,
            expected: p.expected,
            keys: p.keys,
            shares: p.shares,
            unmasks: p.unmasks,
            keysDeadline: p.keysDeadline,
            sharesDeadline: p.sharesDeadline,
            unmaskDeadline: p.unmaskDeadline,
            postedKeys: round != 0 && pm.keysRound == round,
            postedShares: round != 0 && pm.sharesRound == round,
            postedUnmask: round != 0 && pm.unmaskRound == round,
            timestamp: uint64(block.timestamp)
        });
    }

    /// @inheritdoc IFederatedRounds
    function roundSeed(uint256 taskId) external view returns (uint64 round, uint64 seedBlock, bytes32 seed) {
        Task storage t = _existingTask(taskId);
        RoundSeed storage rs = _seeds[taskId];
        return (t.round, rs.seedBlock, rs.seed);
    }

    /// @inheritdoc IFederatedRounds
    function committee(uint256 taskId)
        external
        view
        returns (address[] memory members, uint16 threshold, uint64 epoch)
    {
        _existingTask(taskId);
        Committee storage c = _committees[taskId];
        return (c.members, c.threshold, c.epoch);
    }

    // ------------------------------------------------------------------ mutations

    /// @inheritdoc IFederatedRounds
    function createTask(
        address aggregator,
        bytes32 initialDigest,
        string calldata initialCid,
        uint32 quorum,
        uint64 roundDuration,
        string calldata strategy,
        TaskLimits calldata limits
    ) external returns (uint256 taskId) {
        if (aggregator == address(0)) revert FederatedRoundsInvalidParameter("aggregator");
        if (initialDigest == bytes32(0)) revert FederatedRoundsInvalidParameter("initialDigest");
        if (bytes(initialCid).length == 0) revert FederatedRoundsInvalidParameter("initialCid");
        if (quorum == 0 || quorum > MAX_PARTICIPANTS) revert FederatedRoundsInvalidParameter("quorum");
        if (roundDuration == 0 || roundDuration > MAX_DURATION) revert FederatedRoundsInvalidParameter("roundDuration");
        if (bytes(strategy).length == 0) revert FederatedRoundsInvalidParameter("strategy");
        if (limits.maxUpdateBytes == 0) revert FederatedRoundsInvalidParameter("maxUpdateBytes");
        if (limits.gracePeriod > MAX_DURATION) revert FederatedRoundsInvalidParameter("gracePeriod");
        if (limits.clientsPerRound > MAX_PARTICIPANTS || (limits.clientsPerRound != 0 && limits.clientsPerRound < quorum))
        {
            revert FederatedRoundsInvalidParameter("clientsPerRound");
        }

        taskId = ++_taskCount;
        Task storage t = _tasks[taskId];
        t.aggregator = aggregator;
        t.quorum = quorum;
        t.roundDuration = roundDuration;
        t.maxSamples = limits.maxSamples;
        t.owner = msg.sender;
        t.clientsPerRound = limits.clientsPerRound;
        if (limits.clientsPerRound != 0) t.modes = MODE_SAMPLED;
        t.gracePeriod = limits.gracePeriod;
        t.maxUpdateBytes = limits.maxUpdateBytes;
        t.modelDigest = initialDigest;
        t.modelCid = initialCid;
        t.strategy = strategy;
        emit TaskCreated(taskId, msg.sender, aggregator, initialDigest, initialCid, quorum, roundDuration, strategy);
        emit TaskConfigured(
            taskId, limits.maxSamples, limits.maxUpdateBytes, limits.gracePeriod, limits.clientsPerRound
        );
    }

    /// @inheritdoc IFederatedRounds
    function configurePrivacy(uint256 taskId, PrivacyConfig calldata config) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner) revert FederatedRoundsNotOwner(taskId, msg.sender);
        Privacy storage p = _privacy[taskId];
        if (t.round != 0 || p.enabled) revert FederatedRoundsPrivacyLocked(taskId);
        if (t.clientsPerRound != 0) revert FederatedRoundsInvalidParameter("clientsPerRound");
        if (t.modes & MODE_COMMIT_REVEAL != 0) revert FederatedRoundsCommitRevealTask(taskId);
        if (config.threshold == 0 || config.threshold > t.quorum) revert FederatedRoundsInvalidParameter("threshold");
        if (config.keysPeriod == 0) revert FederatedRoundsInvalidParameter("keysPeriod");
        if (config.sharesPeriod == 0) revert FederatedRoundsInvalidParameter("sharesPeriod");
        if (uint256(config.keysPeriod) + config.sharesPeriod >= t.roundDuration) {
            revert FederatedRoundsInvalidParameter("sharesPeriod");
        }
        if (config.unmaskPeriod == 0 || config.unmaskPeriod > MAX_DURATION) {
            revert FederatedRoundsInvalidParameter("unmaskPeriod");
        }
        if (bytes(config.params).length == 0) revert FederatedRoundsInvalidParameter("params");

        p.enabled = true;
        t.modes |= MODE_PRIVATE;
        p.threshold = config.threshold;
        p.maxRounds = config.maxRounds;
        p.keysPeriod = config.keysPeriod;
        p.sharesPeriod = config.sharesPeriod;
        p.unmaskPeriod = config.unmaskPeriod;
        p.params = config.params;
        emit TaskPrivacyConfigured(
            taskId,
            config.threshold,
            config.maxRounds,
            config.keysPeriod,
            config.sharesPeriod,
            config.unmaskPeriod,
            config.params
        );
    }

    /// @inheritdoc IFederatedRounds
    function advertiseKeys(
        uint256 taskId,
        uint64 round,
        bytes32 encryptionKey,
        bytes32 maskKey,
        bytes32 seedCommitment
    ) external {
        (, Privacy storage p, PrivateMember storage pm) = _privateStep(taskId, round, PHASE_KEYS, true);
        if (pm.keysRound == round) revert FederatedRoundsAlreadyPosted(taskId, round, msg.sender);
        if (encryptionKey == bytes32(0)) revert FederatedRoundsInvalidParameter("encryptionKey");
        if (maskKey == bytes32(0)) revert FederatedRoundsInvalidParameter("maskKey");
        if (seedCommitment == bytes32(0)) revert FederatedRoundsInvalidParameter("seedCommitment");

        pm.keysRound = round;
        p.keys += 1;
        emit RoundKeysAdvertised(taskId, round, msg.sender, encryptionKey, maskKey, seedCommitment);
    }

    /// @inheritdoc IFederatedRounds
    function postShares(uint256 taskId, uint64 round, bytes32 digest, string calldata cid) external {
        (, Privacy storage p, PrivateMember storage pm) = _privateStep(taskId, round, PHASE_SHARES, true);
        if (pm.sharesRound == round) revert FederatedRoundsAlreadyPosted(taskId, round, msg.sender);
        if (pm.keysRound != round) revert FederatedRoundsMissingStep(taskId, round, msg.sender);
        _checkContent(digest, cid);

        pm.sharesRound = round;
        p.shares += 1;
        emit RoundSharesPosted(taskId, round, msg.sender, digest, cid);
    }

    /// @inheritdoc IFederatedRounds
    function postUnmask(uint256 taskId, uint64 round, bytes32 digest, string calldata cid) external {
        (, Privacy storage p, PrivateMember storage pm) = _privateStep(taskId, round, PHASE_UNMASK, false);
        if (pm.unmaskRound == round) revert FederatedRoundsAlreadyPosted(taskId, round, msg.sender);
        if (_members[taskId][msg.sender].lastSubmitted != round) {
            revert FederatedRoundsMissingStep(taskId, round, msg.sender);
        }
        _checkContent(digest, cid);

        pm.unmaskRound = round;
        p.unmasks += 1;
        emit RoundUnmaskPosted(taskId, round, msg.sender, digest, cid);
    }

    /// @inheritdoc IFederatedRounds
    function setAggregator(uint256 taskId, address aggregator) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner) revert FederatedRoundsNotOwner(taskId, msg.sender);
        if (aggregator == address(0)) revert FederatedRoundsInvalidParameter("aggregator");

        address previous = t.aggregator;
        t.aggregator = aggregator;
        emit AggregatorChanged(taskId, previous, aggregator);
    }

    /// @inheritdoc IFederatedRounds
    function addParticipant(uint256 taskId, address account, uint64 maxSamples) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner) revert FederatedRoundsNotOwner(taskId, msg.sender);

        _addParticipant(taskId, t, account, maxSamples);
    }

    /// @inheritdoc IFederatedRounds
    function addParticipants(uint256 taskId, address[] calldata accounts, uint64[] calldata maxSamples) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner) revert FederatedRoundsNotOwner(taskId, msg.sender);
        uint256 n = accounts.length;
        if (n == 0) revert FederatedRoundsInvalidParameter("accounts");
        if (maxSamples.length != n) revert FederatedRoundsInvalidParameter("maxSamples");

        for (uint256 i = 0; i < n; ++i) {
            _addParticipant(taskId, t, accounts[i], maxSamples[i]);
        }
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
    function openRound(uint256 taskId) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner && msg.sender != t.aggregator) {
            revert FederatedRoundsNotOwnerOrAggregator(taskId, msg.sender);
        }
        if (t.round != 0) {
            if (_privacy[taskId].finished) revert FederatedRoundsTaskFinished(taskId); // no round is open
            revert FederatedRoundsRoundAlreadyOpen(taskId, t.round);
        }

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
        uint8 modes = t.modes;
        if (modes & MODE_COMMIT_REVEAL != 0) revert FederatedRoundsCommitRevealTask(taskId);
        if (modes & MODE_PRIVATE != 0) {
            Privacy storage p = _privacy[taskId];
            if (p.finished) revert FederatedRoundsTaskFinished(taskId);
            if (m.lastSubmitted == round) revert FederatedRoundsAlreadySubmitted(taskId, round, msg.sender);
            uint8 phase = _phase(t, p);
            if (phase != PHASE_UPLOADS) revert FederatedRoundsWrongPhase(taskId, round, phase);
            if (_privateMembers[taskId][msg.sender].sharesRound != round) {
                revert FederatedRoundsMissingStep(taskId, round, msg.sender);
            }
        } else if (block.timestamp >= t.deadline) {
            revert FederatedRoundsDeadlinePassed(taskId, round, t.deadline);
        }
        _register(taskId, t, m, round, digest, cid, numSamples);
    }

    /// @inheritdoc IFederatedRounds
    function drawSeed(uint256 taskId) external {
        Task storage t = _existingTask(taskId);
        if (t.modes & MODE_SAMPLED == 0) revert FederatedRoundsNotSampled(taskId);
        if (t.round == 0) revert FederatedRoundsNoOpenRound(taskId);
        if (_seeds[taskId].seed != bytes32(0)) revert FederatedRoundsSeedDrawn(taskId, t.round);
        _drawSeed(taskId, t);
    }

    /// @inheritdoc IFederatedRounds
    function configureCommitReveal(uint256 taskId, uint64 revealPeriod) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner) revert FederatedRoundsNotOwner(taskId, msg.sender);
        if (t.round != 0) revert FederatedRoundsRoundAlreadyOpen(taskId, t.round);
        if (t.modes & MODE_COMMIT_REVEAL != 0) revert FederatedRoundsCommitRevealTask(taskId);
        if (t.modes & MODE_PRIVATE != 0) revert FederatedRoundsInvalidParameter("privacy");
        if (revealPeriod == 0 || revealPeriod > MAX_DURATION) revert FederatedRoundsInvalidParameter("revealPeriod");

        t.modes |= MODE_COMMIT_REVEAL;
        _reveals[taskId].revealPeriod = revealPeriod;
        emit TaskCommitRevealConfigured(taskId, revealPeriod);
    }

    /// @inheritdoc IFederatedRounds
    function commitUpdate(uint256 taskId, uint64 round, bytes32 commitment) external {
        Member storage m = _members[taskId][msg.sender];
        if (!m.allowed) {
            _existingTask(taskId);
            revert FederatedRoundsNotParticipant(taskId, msg.sender);
        }
        Task storage t = _tasks[taskId];
        if (t.modes & MODE_COMMIT_REVEAL == 0) revert FederatedRoundsNotCommitReveal(taskId);
        _checkOpenRound(taskId, t, round);
        Reveals storage r = _reveals[taskId];
        if (block.timestamp >= t.deadline || r.commits >= r.expected) revert FederatedRoundsNotCommitting(taskId, round);
        if (m.lastCommitted == round) revert FederatedRoundsAlreadyCommitted(taskId, round, msg.sender);
        if (commitment == bytes32(0)) revert FederatedRoundsInvalidParameter("commitment");

        m.lastCommitted = round;
        _commitments[taskId][msg.sender] = commitment;
        r.commits += 1;
        emit UpdateCommitted(taskId, round, msg.sender, commitment);
    }

    /// @inheritdoc IFederatedRounds
    /// @dev The commitment binds the digest to its author: a copier cannot commit to a digest it has not seen, and
    ///      by the time any digest is public (the reveal window) no commitment is accepted any more.
    function revealUpdate(
        uint256 taskId,
        uint64 round,
        bytes32 digest,
        string calldata cid,
        uint64 numSamples,
        bytes32 salt
    ) external {
        Task storage t = _existingTask(taskId);
        if (t.modes & MODE_COMMIT_REVEAL == 0) revert FederatedRoundsNotCommitReveal(taskId);
        _checkOpenRound(taskId, t, round);
        Member storage m = _members[taskId][msg.sender];
        if (
            m.lastCommitted != round
                || _commitments[taskId][msg.sender] != keccak256(abi.encode(digest, msg.sender, salt))
        ) revert FederatedRoundsBadReveal(taskId, round, msg.sender);
        Reveals storage r = _reveals[taskId];
        uint64 revealEnd = t.deadline + r.revealPeriod;
        if ((block.timestamp < t.deadline && r.commits < r.expected) || block.timestamp >= revealEnd) {
            revert FederatedRoundsNotRevealing(taskId, round, revealEnd);
        }
        if (m.lastSubmitted == round) revert FederatedRoundsAlreadySubmitted(taskId, round, msg.sender);
        _register(taskId, t, m, round, digest, cid, numSamples);
        emit UpdateRevealed(taskId, round, msg.sender, salt);
    }

    /// @inheritdoc IFederatedRounds
    function setCommittee(uint256 taskId, address[] calldata members, uint16 threshold) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.owner) revert FederatedRoundsNotOwner(taskId, msg.sender);
        uint256 n = members.length;
        if (n == 0 || n > MAX_COMMITTEE) revert FederatedRoundsInvalidParameter("members");
        if (threshold == 0 || threshold > n) revert FederatedRoundsInvalidParameter("threshold");
        Committee storage c = _committees[taskId];
        uint64 epoch = c.epoch + 1;
        delete c.members;
        for (uint256 i = 0; i < n; ++i) {
            address a = members[i];
            if (a == address(0) || _memberEpoch[taskId][a] == epoch) revert FederatedRoundsInvalidParameter("members");
            _memberEpoch[taskId][a] = epoch;
            c.members.push(a);
        }
        c.epoch = epoch;
        c.threshold = threshold;
        t.modes |= MODE_COMMITTEE;
        emit CommitteeChanged(taskId, members, threshold, epoch);
    }

    /// @inheritdoc IFederatedRounds
    /// @dev Members agree on (globalDigest, reasons); the CID is the threshold-th attester's (any CID of the same
    ///      bytes names the same content). Every attestation is checked as a finalize or a failure would be, so an
    ///      outcome that could never be committed can never collect votes.
    function attestRound(
        uint256 taskId,
        uint64 round,
        bytes32 globalDigest,
        string calldata globalCid,
        bytes calldata reasons
    ) external {
        Task storage t = _existingTask(taskId);
        uint16 threshold = _markAttester(taskId, t, round);
        uint32 included;
        if (globalDigest != bytes32(0)) {
            included = _checkFinal(taskId, t, round, globalCid, reasons);
        } else {
            if (bytes(globalCid).length != 0) revert FederatedRoundsInvalidParameter("globalCid");
            _checkFailure(taskId, t, round, reasons);
        }
        emit RoundAttested(taskId, round, msg.sender, globalDigest, globalCid, reasons);
        if (_countVote(taskId, round, globalDigest, reasons) < threshold) return;
        if (globalDigest != bytes32(0)) {
            _finalize(taskId, t, round, globalDigest, globalCid, reasons, included);
        } else {
            emit RoundFailed(taskId, round, msg.sender, reasons);
            _openRound(taskId, t, round + 1);
        }
    }

    /// @dev The caller attests round `round` of a committee task: it must be a member of the current committee
    ///      that has not attested the round yet; marks it as having attested and returns the threshold.
    function _markAttester(uint256 taskId, Task storage t, uint64 round) private returns (uint16) {
        if (t.modes & MODE_COMMITTEE == 0) revert FederatedRoundsNoCommittee(taskId);
        Committee storage c = _committees[taskId];
        uint64 epoch = c.epoch;
        if (_memberEpoch[taskId][msg.sender] != epoch) revert FederatedRoundsNotCommitteeMember(taskId, msg.sender);
        _checkOpenRound(taskId, t, round);
        bytes32 mine = keccak256(abi.encode(round, epoch, msg.sender));
        if (_attestations[taskId][mine] != 0) revert FederatedRoundsAlreadyAttested(taskId, round, msg.sender);
        _attestations[taskId][mine] = 1;
        return c.threshold;
    }

    /// @dev One more vote for (globalDigest, reasons) in this round and committee; returns the votes so far.
    function _countVote(uint256 taskId, uint64 round, bytes32 globalDigest, bytes calldata reasons)
        private
        returns (uint256 count)
    {
        bytes32 key = keccak256(abi.encode(round, _committees[taskId].epoch, globalDigest, keccak256(reasons)));
        count = _attestations[taskId][key] + 1;
        _attestations[taskId][key] = count;
    }

    /// @dev Register a submission (submitUpdate, revealUpdate): the shared checks, the seed of a sampled round,
    ///      bookkeeping, event.
    function _register(
        uint256 taskId,
        Task storage t,
        Member storage m,
        uint64 round,
        bytes32 digest,
        string calldata cid,
        uint64 numSamples
    ) private {
        if (m.lastSubmitted == round) revert FederatedRoundsAlreadySubmitted(taskId, round, msg.sender);
        // Reachable only through leave-and-rejoin churn; keeps every submission index inside the limit.
        if (t.submissions >= MAX_PARTICIPANTS) revert FederatedRoundsTooManyParticipants(taskId, MAX_PARTICIPANTS);
        if (digest == bytes32(0)) revert FederatedRoundsInvalidParameter("digest");
        if (bytes(cid).length == 0) revert FederatedRoundsInvalidParameter("cid");
        if (numSamples == 0) revert FederatedRoundsInvalidParameter("numSamples");
        uint64 cap = _cap(t.maxSamples, m.maxSamples);
        if (cap != 0 && numSamples > cap) revert FederatedRoundsTooManySamples(taskId, msg.sender, numSamples, cap);
        if (t.modes & MODE_SAMPLED != 0 && _seeds[taskId].seed == bytes32(0)) _drawSeed(taskId, t);

        m.lastSubmitted = round;
        t.submissions += 1;
        emit UpdateSubmitted(taskId, round, msg.sender, digest, cid, numSamples);
    }

    /// @dev Draw the open round's seed from the hash of the block it opened in (known to nobody when the opening
    ///      transaction was sent); if that hash is older than 256 blocks, from the previous block's.
    function _drawSeed(uint256 taskId, Task storage t) private {
        RoundSeed storage rs = _seeds[taskId];
        uint64 seedBlock = rs.seedBlock;
        if (block.number <= seedBlock) revert FederatedRoundsSeedNotReady(taskId, t.round, seedBlock);
        bytes32 hash = blockhash(seedBlock);
        if (hash == bytes32(0)) {
            seedBlock = uint64(block.number - 1);
            hash = blockhash(seedBlock);
        }
        bytes32 seed = keccak256(abi.encode(hash, taskId, t.round));
        rs.seedBlock = seedBlock;
        rs.seed = seed;
        emit RoundSeeded(taskId, t.round, seedBlock, seed);
    }

    /// @inheritdoc IFederatedRounds
    /// @dev Allowed once every participant (or, when the task samples, clientsPerRound of them) has submitted, or
    ///      once the deadline has passed.
    function finalizeRound(
        uint256 taskId,
        uint64 round,
        bytes32 globalDigest,
        string calldata globalCid,
        bytes calldata reasons
    ) external {
        Task storage t = _existingTask(taskId);
        if (msg.sender != t.aggregator) revert FederatedRoundsNotAggregator(taskId, msg.sender);
        if (t.modes & MODE_COMMITTEE != 0) revert FederatedRoundsCommitteeTask(taskId);
        _checkOpenRound(taskId, t, round);
        uint32 included = _checkFinal(taskId, t, round, globalCid, reasons);
        if (globalDigest == bytes32(0)) revert FederatedRoundsInvalidParameter("globalDigest");
        _finalize(taskId, t, round, globalDigest, globalCid, reasons, included);
    }

    /// @dev The checks of a finalization (finalizeRound, attestRound): the round may close, the CID is given, the
    ///      reasons are one known code per submission with an included update and quorum valid ones. Returns the
    ///      number included.
    function _checkFinal(uint256 taskId, Task storage t, uint64 round, string calldata cid, bytes calldata reasons)
        private
        view
        returns (uint32 included)
    {
        uint32 submitted = t.submissions;
        uint8 modes = t.modes;
        if (modes & MODE_PRIVATE != 0) {
            Privacy storage p = _privacy[taskId];
            if (p.finished) revert FederatedRoundsTaskFinished(taskId);
            if (_phase(t, p) != PHASE_CLOSED) revert FederatedRoundsRoundStillRunning(taskId, round, p.unmaskDeadline);
            if (p.unmasks < p.threshold) revert FederatedRoundsNotUnmasked(taskId, round, p.unmasks, p.threshold);
        } else if (modes & MODE_COMMIT_REVEAL != 0) {
            Reveals storage r = _reveals[taskId];
            uint64 revealEnd = t.deadline + r.revealPeriod;
            bool revealing = block.timestamp >= t.deadline || r.commits >= r.expected;
            if (block.timestamp < revealEnd && !(revealing && submitted >= r.commits)) {
                revert FederatedRoundsRoundStillRunning(taskId, round, revealEnd);
            }
        } else if (!_allIn(t, submitted) && block.timestamp < t.deadline) {
            revert FederatedRoundsRoundStillRunning(taskId, round, t.deadline);
        }
        if (bytes(cid).length == 0) revert FederatedRoundsInvalidParameter("globalCid");
        uint32 valid;
        (included, valid) = _tally(taskId, round, reasons, submitted);
        if (included == 0 || valid < t.quorum) revert FederatedRoundsQuorumNotMet(taskId, round, valid, t.quorum);
    }

    /// @dev The checks of a committee's failure attestation: the round may be failed (as closeFailedRound would
    ///      let its aggregator) with one known code per submission.
    function _checkFailure(uint256 taskId, Task storage t, uint64 round, bytes calldata reasons) private view {
        uint32 submitted = t.submissions;
        if (t.modes & MODE_PRIVATE != 0) {
            Privacy storage p = _privacy[taskId];
            if (p.finished) revert FederatedRoundsTaskFinished(taskId);
            if (_phase(t, p) != PHASE_CLOSED) revert FederatedRoundsRoundStillRunning(taskId, round, p.unmaskDeadline);
            _tally(taskId, round, reasons, submitted);
            return;
        }
        uint64 closes = _closeTime(taskId, t);
        if (block.timestamp < closes) revert FederatedRoundsRoundStillRunning(taskId, round, closes);
        (, uint32 valid) = _tally(taskId, round, reasons, submitted);
        bool graceOver = block.timestamp >= uint256(closes) + t.gracePeriod;
        if (submitted >= t.quorum && !graceOver && valid >= t.quorum) {
            revert FederatedRoundsEnoughValid(taskId, round, valid, t.quorum);
        }
    }

    /// @dev When a plain or commit-reveal round can be failed: its deadline, or the end of its reveal window.
    function _closeTime(uint256 taskId, Task storage t) private view returns (uint64) {
        if (t.modes & MODE_COMMIT_REVEAL != 0) return t.deadline + _reveals[taskId].revealPeriod;
        return t.deadline;
    }

    /// @dev Commit the round's global model and outcomes, and open the next round on it.
    function _finalize(
        uint256 taskId,
        Task storage t,
        uint64 round,
        bytes32 globalDigest,
        string calldata globalCid,
        bytes calldata reasons,
        uint32 included
    ) private {
        t.modelDigest = globalDigest;
        t.modelCid = globalCid;
        emit RoundFinalized(taskId, round, globalDigest, globalCid, keccak256(reasons), included, reasons);
        _openRound(taskId, t, round + 1);
    }

    /// @inheritdoc IFederatedRounds
    function closeFailedRound(uint256 taskId, uint64 round, bytes calldata reasons) external {
        Task storage t = _existingTask(taskId);
        _checkOpenRound(taskId, t, round);
        uint32 submitted = t.submissions;
        Privacy storage p = _privacy[taskId];
        if (t.modes & MODE_PRIVATE != 0) {
            _closePrivateRound(taskId, t, p, round, reasons, submitted);
            return;
        }
        uint64 deadline = _closeTime(taskId, t);
        if (block.timestamp < deadline) revert FederatedRoundsRoundStillRunning(taskId, round, deadline);
        bool belowQuorum = submitted < t.quorum;
        bool graceOver = block.timestamp >= uint256(deadline) + t.gracePeriod;
        if (!belowQuorum && !graceOver) {
            // Quorum reached inside the grace period: only the aggregator may give up, and only by naming, for
            // every submission, why fewer than quorum of them are valid (the audit re-checks each reason).
            if (msg.sender != t.aggregator || t.modes & MODE_COMMITTEE != 0) {
                revert FederatedRoundsQuorumReached(taskId, round, submitted, t.quorum);
            }
            (, uint32 valid) = _tally(taskId, round, reasons, submitted);
            if (valid >= t.quorum) revert FederatedRoundsEnoughValid(taskId, round, valid, t.quorum);
        } else if (reasons.length != 0) {
            _tally(taskId, round, reasons, submitted); // optional, but well-formed when given
        }

        emit RoundFailed(taskId, round, msg.sender, reasons); // the next round replaces the failed one's state
        _openRound(taskId, t, round + 1);
    }

    // ------------------------------------------------------------------ internals

    /// @dev The task `taskId`, or a revert if there is none.
    function _existingTask(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.owner == address(0)) revert FederatedRoundsUnknownTask(taskId);
    }

    /// @dev The public view of task `t`.
    function _taskView(uint256 taskId, Task storage t) private view returns (TaskView memory) {
        return TaskView({
            owner: t.owner,
            aggregator: t.aggregator,
            quorum: t.quorum,
            roundDuration: t.roundDuration,
            round: t.round,
            roundOpen: t.round != 0 && !_privacy[taskId].finished,
            deadline: t.deadline,
            submissions: t.submissions,
            participantCount: t.participantCount,
            modelDigest: t.modelDigest,
            modelCid: t.modelCid,
            strategy: t.strategy,
            limits: TaskLimits({
                maxSamples: t.maxSamples,
                maxUpdateBytes: t.maxUpdateBytes,
                gracePeriod: t.gracePeriod,
                clientsPerRound: t.clientsPerRound
            })
        });
    }

    /// @dev Add `account` to the allowlist of task `t` (the caller checked the owner): guards, state, event.
    function _addParticipant(uint256 taskId, Task storage t, address account, uint64 maxSamples) private {
        if (account == address(0)) revert FederatedRoundsInvalidParameter("account");
        Member storage m = _members[taskId][account];
        if (m.allowed) revert FederatedRoundsAlreadyParticipant(taskId, account);
        if (t.participantCount >= MAX_PARTICIPANTS) revert FederatedRoundsTooManyParticipants(taskId, MAX_PARTICIPANTS);

        m.allowed = true;
        m.maxSamples = maxSamples;
        t.participantCount += 1;
        emit ParticipantAdded(taskId, account, maxSamples);
    }

    /// @dev Reverts unless `round` is the task's open round.
    function _checkOpenRound(uint256 taskId, Task storage t, uint64 round) private view {
        uint64 open = t.round;
        if (open == 0) revert FederatedRoundsNoOpenRound(taskId);
        if (round != open) revert FederatedRoundsWrongRound(taskId, open, round);
    }

    /// @dev Whether enough participants submitted to close the round before its deadline.
    function _allIn(Task storage t, uint32 submitted) private view returns (bool) {
        uint32 expected = t.participantCount;
        uint32 sampled = t.clientsPerRound;
        if (sampled != 0 && sampled < expected) expected = sampled;
        return submitted >= expected;
    }

    /// @dev The tighter of two caps, where 0 means none.
    function _cap(uint64 a, uint64 b) private pure returns (uint64) {
        if (a == 0) return b;
        if (b == 0 || a < b) return a;
        return b;
    }

    /// @dev Tally of `reasons`, which must hold exactly one known reason code per submission: `included` counts the
    ///      zero bytes, `valid` adds the outliers (code 12: valid updates a robust rule rejected), which count toward
    ///      the quorum because the rule considered them. Reads 32 bytes at a time; the bytes past the end of the
    ///      last word are cleared, since the caller controls what follows in calldata.
    function _tally(uint256 taskId, uint64 round, bytes calldata reasons, uint32 submitted)
        private
        pure
        returns (uint32 included, uint32 valid)
    {
        uint256 length = reasons.length;
        if (length != submitted) revert FederatedRoundsBadReasons(taskId, round, length, submitted);
        uint256 nonzero;
        uint256 notOutlier;
        bool unknown;
        for (uint256 i = 0; i < length; i += 32) {
            uint256 word;
            assembly ("memory-safe") {
                word := calldataload(add(reasons.offset, i))
            }
            unchecked {
                if (length - i < 32) {
                    uint256 shift = 8 * (32 - (length - i));
                    word = (word >> shift) << shift;
                }
                uint256 tooBig = (((word & LOW7) + (0x7f - MAX_REASON) * ONES) | word) & HIGH;
                unknown = unknown || tooBig != 0;
                nonzero += _nonzeroBytes(word);
                notOutlier += _nonzeroBytes(word ^ (OUTLIER * ONES)); // the cleared tail is never an outlier
            }
        }
        if (unknown) revert FederatedRoundsUnknownReason(taskId, round);
        unchecked {
            uint256 words = (length + 31) / 32;
            included = uint32(length - nonzero);
            valid = included + uint32(32 * words - notOutlier);
        }
    }

    /// @dev How many of the 32 bytes of `word` are nonzero (SWAR: a byte's high bit is set iff the byte is nonzero,
    ///      then one multiplication adds the 32 flags up in the top byte).
    function _nonzeroBytes(uint256 word) private pure returns (uint256) {
        unchecked {
            uint256 isSet = (((word & LOW7) + LOW7) | word) & HIGH;
            return ((isSet >> 7) * ONES) >> 248;
        }
    }

    /// @dev closeFailedRound on a private task: once the round's phases are over, anyone when it is below quorum,
    ///      below threshold unmask postings or past unmaskDeadline + gracePeriod; else only the aggregator, with one
    ///      well-formed reason byte per submission (an upload it could not use, or shares that rebuild no secret:
    ///      the audit re-checks which).
    function _closePrivateRound(
        uint256 taskId,
        Task storage t,
        Privacy storage p,
        uint64 round,
        bytes calldata reasons,
        uint32 submitted
    ) private {
        if (p.finished) revert FederatedRoundsTaskFinished(taskId);
        if (_phase(t, p) != PHASE_CLOSED) revert FederatedRoundsRoundStillRunning(taskId, round, p.unmaskDeadline);
        bool anyone = submitted < t.quorum || p.unmasks < p.threshold
            || block.timestamp >= uint256(p.unmaskDeadline) + t.gracePeriod;
        if (!anyone) {
            if (msg.sender != t.aggregator || t.modes & MODE_COMMITTEE != 0) {
                revert FederatedRoundsQuorumReached(taskId, round, submitted, t.quorum);
            }
            _tally(taskId, round, reasons, submitted);
        } else if (reasons.length != 0) {
            _tally(taskId, round, reasons, submitted);
        }
        emit RoundFailed(taskId, round, msg.sender, reasons);
        _openRound(taskId, t, round + 1);
    }

    /// @dev The caller's private posting for `round` of task `taskId` in phase `phase`: the shared guards (on the
    ///      allowlist unless `allowlisted` is false, a private task, its open round, the right phase).
    function _privateStep(uint256 taskId, uint64 round, uint8 phase, bool allowlisted)
        private
        view
        returns (Task storage t, Privacy storage p, PrivateMember storage pm)
    {
        if (allowlisted && !_members[taskId][msg.sender].allowed) {
            _existingTask(taskId);
            revert FederatedRoundsNotParticipant(taskId, msg.sender);
        }
        t = _existingTask(taskId);
        p = _privacy[taskId];
        if (!p.enabled) revert FederatedRoundsNotPrivate(taskId);
        if (p.finished) revert FederatedRoundsTaskFinished(taskId);
        _checkOpenRound(taskId, t, round);
        uint8 current = _phase(t, p);
        if (current != phase) revert FederatedRoundsWrongPhase(taskId, round, current);
        pm = _privateMembers[taskId][msg.sender];
    }

    /// @dev The phase of a private task's open round (PHASE_NONE for plain tasks). Each phase ends at its deadline
    ///      or once everyone who may post in it has, so phases only move forward.
    function _phase(Task storage t, Privacy storage p) private view returns (uint8) {
        if (!p.enabled || t.round == 0 || p.finished) return PHASE_NONE;
        if (block.timestamp < p.keysDeadline && p.keys < p.expected) return PHASE_KEYS;
        if (block.timestamp < p.sharesDeadline && p.shares < p.keys) return PHASE_SHARES;
        if (block.timestamp < t.deadline && t.submissions < p.shares) return PHASE_UPLOADS;
        if (block.timestamp < p.unmaskDeadline && p.unmasks < t.submissions) return PHASE_UNMASK;
        return PHASE_CLOSED;
    }

    /// @dev A posting's content reference: a nonzero sha256 digest and a non-empty CID.
    function _checkContent(bytes32 digest, string calldata cid) private pure {
        if (digest == bytes32(0)) revert FederatedRoundsInvalidParameter("digest");
        if (bytes(cid).length == 0) revert FederatedRoundsInvalidParameter("cid");
    }

    /// @dev Open round `round` on the task's current model, for `roundDuration` seconds from now; on a private
    ///      task also its phase deadlines, or nothing once the task spent maxRounds rounds.
    function _openRound(uint256 taskId, Task storage t, uint64 round) private {
        uint64 deadline = uint64(block.timestamp) + t.roundDuration;
        Privacy storage p = _privacy[taskId];
        if (t.modes & MODE_PRIVATE != 0) {
            if (p.maxRounds != 0 && round > p.maxRounds) {
                p.finished = true;
                emit TaskFinished(taskId, round - 1);
                return;
            }
            p.expected = t.participantCount;
            p.keys = 0;
            p.shares = 0;
            p.unmasks = 0;
            p.keysDeadline = uint64(block.timestamp) + p.keysPeriod;
            p.sharesDeadline = p.keysDeadline + p.sharesPeriod;
            p.unmaskDeadline = deadline + p.unmaskPeriod;
        }
        t.round = round;
        t.deadline = deadline;
        t.submissions = 0;
        bytes32 seed;
        if (t.modes & MODE_SAMPLED != 0) {
            _seeds[taskId] = RoundSeed(round, uint64(block.number), bytes32(0)); // drawn at first use: RoundSeeded
        } else {
            seed = keccak256(abi.encode(blockhash(block.number - 1), taskId, round));
        }
        if (t.modes & MODE_COMMIT_REVEAL != 0) {
            Reveals storage r = _reveals[taskId];
            r.expected = t.participantCount;
            r.commits = 0;
        }
        emit RoundOpened(taskId, round, deadline, t.modelDigest, seed);
    }
}
