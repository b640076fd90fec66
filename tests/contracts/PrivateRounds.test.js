// Contract tests for FederatedRounds' private rounds: configurePrivacy, the five phases (1 keys, 2 shares,
// 3 uploads, 4 unmask, 5 closed) with their early and time-driven ends, advertiseKeys / postShares / postUnmask,
// the private variants of submitUpdate / finalizeRound / closeFailedRound, privateView, and the maxRounds budget
// (TaskFinished). Every custom error with its arguments, every event with its fields. Run with
// `npx hardhat test tests/contracts/PrivateRounds.test.js`.
import { expect } from "chai";
import { network } from "hardhat";
import {
  DURATION, GRACE, QUORUM, STRATEGY, MIB64, ZERO, digest, INITIAL_DIGEST, INITIAL_CID, UPDATE_CID, GLOBAL_CID, limits, reasons, createArgs,
} from "./common.js";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const THRESHOLD = 2n;
const KEYS = 600n; // keysPeriod
const SHARES = 600n; // sharesPeriod
const UNMASK = 900n; // unmaskPeriod
const PARAMS = "secagg:clip=1.0,scale_bits=16";
const MAX_DURATION = 2n ** 32n - 1n;
const SHARES_CID = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";
const UNMASK_CID = "bafkreiabltrd5zm73pvi7plq25pef3hm7jxhbi3kv4hapegrkfpkqtkbme";
const PHASE = { NONE: 0n, KEYS: 1n, SHARES: 2n, UPLOADS: 3n, UNMASK: 4n, CLOSED: 5n };
/** A PrivacyConfig as the contract takes it: [threshold, maxRounds, keysPeriod, sharesPeriod, unmaskPeriod, params]. */
const privacy = (over = {}) => [
  over.threshold ?? THRESHOLD, over.maxRounds ?? 0n, over.keys ?? KEYS, over.shares ?? SHARES,
  over.unmask ?? UNMASK, over.params ?? PARAMS,
];
/** The three 32-byte keys a participant advertises in a round, distinct per account and round. */
const keysOf = (account, round = 1n) =>
  ["enc", "mask", "seed"].map((kind) => digest(`${kind}:${account}:${round}`));

/** Deploy, create task 1 (quorum 2; alice, bob, carol allowlisted), make it private with `over`. */
async function deployPrivate(over = {}) {
  const [owner, agg, alice, bob, carol, stranger, ...rest] = await ethers.getSigners();
  const rounds = await ethers.deployContract("FederatedRounds");
  await rounds.createTask(...createArgs(agg.address));
  for (const p of [alice, bob, carol]) await rounds.addParticipant(1n, p.address, 0n);
  await rounds.configurePrivacy(1n, privacy(over));
  return { rounds, owner, agg, alice, bob, carol, stranger, rest };
}

/** The deadlines of a round opened at `start`. */
function deadlinesFrom(start) {
  return {
    start,
    keysDeadline: start + KEYS,
    sharesDeadline: start + KEYS + SHARES,
    deadline: start + DURATION,
    unmaskDeadline: start + DURATION + UNMASK,
  };
}

/** Open the next round of task `task` in a block with a known timestamp; returns its deadlines. */
async function openRoundNow(rounds, signer, task = 1n) {
  const start = BigInt(await time.latest()) + 10n;
  await time.setNextBlockTimestamp(start);
  await rounds.connect(signer).openRound(task);
  return deadlinesFrom(start);
}

/** Private task 1 with round 1 open (no maxRounds). */
async function withPrivateRound() {
  const f = await deployPrivate();
  return { ...f, ...(await openRoundNow(f.rounds, f.owner)) };
}

/** As withPrivateRound with maxRounds 1. */
async function withLastRound() {
  const f = await deployPrivate({ maxRounds: 1n });
  return { ...f, ...(await openRoundNow(f.rounds, f.owner)) };
}

/** A plain task 1 (quorum 2; alice, bob, carol allowlisted) with round 1 open. */
async function withPlainRound() {
  const [owner, agg, alice, bob, carol, stranger] = await ethers.getSigners();
  const rounds = await ethers.deployContract("FederatedRounds");
  await rounds.createTask(...createArgs(agg.address));
  for (const p of [alice, bob, carol]) await rounds.addParticipant(1n, p.address, 0n);
  return { rounds, owner, agg, alice, bob, carol, stranger, ...(await openRoundNow(rounds, owner)) };
}

const advertise = (rounds, signer, round = 1n, task = 1n) =>
  rounds.connect(signer).advertiseKeys(task, round, ...keysOf(signer.address, round));
const share = (rounds, signer, round = 1n, task = 1n) =>
  rounds.connect(signer).postShares(task, round, digest(`shares:${signer.address}:${round}`), SHARES_CID);
const submit = (rounds, signer, round = 1n, task = 1n) =>
  rounds.connect(signer).submitUpdate(task, round, digest(`update:${signer.address}:${round}`), UPDATE_CID, 100n);
const unmask = (rounds, signer, round = 1n, task = 1n) =>
  rounds.connect(signer).postUnmask(task, round, digest(`unmask:${signer.address}:${round}`), UNMASK_CID);
const finalize = (rounds, signer, codes, round = 1n) =>
  rounds.connect(signer).finalizeRound(1n, round, digest(`global:${round}`), GLOBAL_CID, reasons(...codes));

/** Run every step each of `who` may do, phase by phase: keys (k), shares (s), upload (u), unmask (m). */
async function run(rounds, steps, round = 1n) {
  for (const p of steps.k ?? []) await advertise(rounds, p, round);
  for (const p of steps.s ?? []) await share(rounds, p, round);
  for (const p of steps.u ?? []) await submit(rounds, p, round);
  for (const p of steps.m ?? []) await unmask(rounds, p, round);
}

/** privateView's phase, counters and posted flags for `account`, as one comparable object. */
async function state(rounds, account) {
  const v = (await rounds.privateView(1n, account.address ?? account)).toObject(); // Result.keys is Array's
  return {
    phase: v.phase, keys: v.keys, shares: v.shares, unmasks: v.unmasks, expected: v.expected,
    posted: [v.postedKeys, v.postedShares, v.postedUnmask],
  };
}

describe("FederatedRounds private rounds", function () {
  describe("configurePrivacy", function () {
    it("makes the task private and emits TaskPrivacyConfigured with every field", async function () {
      const [owner, agg, alice] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address));

      await expect(rounds.connect(owner).configurePrivacy(1n, privacy({ threshold: 1n, maxRounds: 7n })))
        .to.emit(rounds, "TaskPrivacyConfigured").withArgs(1n, 1n, 7n, KEYS, SHARES, UNMASK, PARAMS);

      const v = (await rounds.privateView(1n, alice.address)).toObject();
      expect([v.enabled, v.finished, v.phase, v.threshold, v.maxRounds]).to.deep.equal([true, false, 0n, 1n, 7n]);
      expect([v.expected, v.keys, v.keysDeadline, v.unmaskDeadline]).to.deep.equal([0n, 0n, 0n, 0n]);
    });

    it("accepts the boundaries: threshold = quorum, keys + shares = duration - 1, unmaskPeriod 2^32 - 1",
      async function () {
        const [, agg] = await ethers.getSigners();
        const rounds = await ethers.deployContract("FederatedRounds");
        await rounds.createTask(...createArgs(agg.address));
        await expect(rounds.configurePrivacy(1n, privacy({
          threshold: QUORUM, keys: 1n, shares: DURATION - 2n, unmask: MAX_DURATION,
        }))).to.emit(rounds, "TaskPrivacyConfigured").withArgs(1n, QUORUM, 0n, 1n, DURATION - 2n, MAX_DURATION, PARAMS);
      });

    it("rejects anyone but the owner, and unknown tasks", async function () {
      const [, agg, alice] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address));
      for (const who of [agg, alice]) {
        await expect(rounds.connect(who).configurePrivacy(1n, privacy()))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner").withArgs(1n, who.address);
      }
      await expect(rounds.configurePrivacy(4n, privacy()))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(4n);
      expect((await rounds.privateView(1n, alice.address)).enabled).to.equal(false);
    });

    it("is allowed once, and only before the first round opens", async function () {
      const { rounds, owner, agg } = await loadFixture(deployPrivate);
      await expect(rounds.configurePrivacy(1n, privacy({ threshold: 1n })))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsPrivacyLocked").withArgs(1n);
      expect((await rounds.privateView(1n, owner.address)).threshold).to.equal(THRESHOLD);

      await rounds.createTask(...createArgs(agg.address));
      await rounds.openRound(2n);
      await expect(rounds.configurePrivacy(2n, privacy()))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsPrivacyLocked").withArgs(2n);
      expect((await rounds.privateView(2n, owner.address)).enabled).to.equal(false);
    });

    it("rejects a task that samples clients (clientsPerRound must be 0)", async function () {
      const [, agg] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address, { clients: 2n }));
      await expect(rounds.configurePrivacy(1n, privacy()))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("clientsPerRound");
    });

    const invalid = [
      ["threshold", "0", { threshold: 0n }],
      ["threshold", "quorum + 1", { threshold: QUORUM + 1n }],
      ["keysPeriod", "0", { keys: 0n }],
      ["sharesPeriod", "0", { shares: 0n }],
      ["sharesPeriod", "such that keys + shares = roundDuration", { keys: 1000n, shares: DURATION - 1000n }],
      ["sharesPeriod", "such that keys + shares > roundDuration", { keys: DURATION, shares: 1n }],
      ["sharesPeriod", "2^64 - 1 (no overflow in the sum)", { keys: 1n, shares: 2n ** 64n - 1n }],
      ["unmaskPeriod", "0", { unmask: 0n }],
      ["unmaskPeriod", "2^32 s", { unmask: MAX_DURATION + 1n }],
      ["params", "empty", { params: "" }],
    ];
    for (const [name, what, over] of invalid) {
      it(`rejects ${name} = ${what}`, async function () {
        const [, agg, alice] = await ethers.getSigners();
        const rounds = await ethers.deployContract("FederatedRounds");
        await rounds.createTask(...createArgs(agg.address));
        await expect(rounds.configurePrivacy(1n, privacy(over)))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs(name);
        expect((await rounds.privateView(1n, alice.address)).enabled).to.equal(false);
      });
    }
  });

  describe("a full round", function () {
    it("walks every phase, each ending early once everyone posted, then finalizes and resets the phase state",
      async function () {
        const { rounds, agg, alice, bob, carol, start, keysDeadline, sharesDeadline, deadline, unmaskDeadline } =
          await loadFixture(withPrivateRound);
        const v = await rounds.privateView(1n, alice.address);
        expect([v.enabled, v.finished, v.threshold, v.maxRounds]).to.deep.equal([true, false, THRESHOLD, 0n]);
        expect([v.keysDeadline, v.sharesDeadline, v.unmaskDeadline]).to.deep.equal(
          [keysDeadline, sharesDeadline, unmaskDeadline]);
        expect((await rounds.getTask(1n)).deadline).to.equal(deadline);
        expect(await state(rounds, alice)).to.deep.equal(
          { phase: PHASE.KEYS, keys: 0n, shares: 0n, unmasks: 0n, expected: 3n, posted: [false, false, false] });

        // 1 keys: ends as soon as all three advertised, long before keysDeadline.
        const [enc, mask, seed] = keysOf(alice.address);
        await expect(rounds.connect(alice).advertiseKeys(1n, 1n, enc, mask, seed))
          .to.emit(rounds, "RoundKeysAdvertised").withArgs(1n, 1n, alice.address, enc, mask, seed);
        expect(await state(rounds, alice)).to.deep.equal(
          { phase: PHASE.KEYS, keys: 1n, shares: 0n, unmasks: 0n, expected: 3n, posted: [true, false, false] });
        expect((await state(rounds, bob)).posted).to.deep.equal([false, false, false]);
        await advertise(rounds, bob);
        await advertise(rounds, carol);
        expect(BigInt(await time.latest())).to.be.lessThan(keysDeadline);
        expect(await state(rounds, bob)).to.deep.equal(
          { phase: PHASE.SHARES, keys: 3n, shares: 0n, unmasks: 0n, expected: 3n, posted: [true, false, false] });

        // 2 shares.
        await expect(share(rounds, alice))
          .to.emit(rounds, "RoundSharesPosted")
          .withArgs(1n, 1n, alice.address, digest(`shares:${alice.address}:1`), SHARES_CID);
        expect(await state(rounds, alice)).to.deep.equal(
          { phase: PHASE.SHARES, keys: 3n, shares: 1n, unmasks: 0n, expected: 3n, posted: [true, true, false] });
        await share(rounds, bob);
        await share(rounds, carol);
        expect(await state(rounds, carol)).to.deep.equal(
          { phase: PHASE.UPLOADS, keys: 3n, shares: 3n, unmasks: 0n, expected: 3n, posted: [true, true, false] });

        // 3 uploads.
        await expect(submit(rounds, alice))
          .to.emit(rounds, "UpdateSubmitted")
          .withArgs(1n, 1n, alice.address, digest(`update:${alice.address}:1`), UPDATE_CID, 100n);
        expect((await state(rounds, alice)).phase).to.equal(PHASE.UPLOADS);
        await submit(rounds, bob);
        await submit(rounds, carol);
        expect((await rounds.getTask(1n)).submissions).to.equal(3n);
        expect(await state(rounds, alice)).to.deep.equal(
          { phase: PHASE.UNMASK, keys: 3n, shares: 3n, unmasks: 0n, expected: 3n, posted: [true, true, false] });

        // The aggregator cannot finalize while unmask material may still come.
        await expect(finalize(rounds, agg, [0, 0, 0]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, unmaskDeadline);

        // 4 unmask.
        await expect(unmask(rounds, alice))
          .to.emit(rounds, "RoundUnmaskPosted")
          .withArgs(1n, 1n, alice.address, digest(`unmask:${alice.address}:1`), UNMASK_CID);
        expect(await state(rounds, alice)).to.deep.equal(
          { phase: PHASE.UNMASK, keys: 3n, shares: 3n, unmasks: 1n, expected: 3n, posted: [true, true, true] });
        await unmask(rounds, bob);
        await unmask(rounds, carol);
        expect(await state(rounds, alice)).to.deep.equal(
          { phase: PHASE.CLOSED, keys: 3n, shares: 3n, unmasks: 3n, expected: 3n, posted: [true, true, true] });
        expect(BigInt(await time.latest())).to.be.lessThan(keysDeadline); // every phase ended early

        // 5 closed: finalize opens round 2 with fresh phase state.
        const next = BigInt(await time.latest()) + 5n;
        await time.setNextBlockTimestamp(next);
        const outcome = reasons(0, 0, 0);
        await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, outcome))
          .to.emit(rounds, "RoundFinalized")
          .withArgs(1n, 1n, digest("g"), GLOBAL_CID, ethers.keccak256(outcome), 3n, outcome)
          .and.to.emit(rounds, "RoundOpened")
          .and.not.to.emit(rounds, "TaskFinished");
        const task = await rounds.getTask(1n);
        expect([task.round, task.roundOpen, task.submissions, task.deadline, task.modelDigest]).to.deep.equal(
          [2n, true, 0n, next + DURATION, digest("g")]);
        const after = await rounds.privateView(1n, alice.address);
        expect([after.keysDeadline, after.sharesDeadline, after.unmaskDeadline]).to.deep.equal(
          [next + KEYS, next + KEYS + SHARES, next + DURATION + UNMASK]);
        expect(await state(rounds, alice)).to.deep.equal(
          { phase: PHASE.KEYS, keys: 0n, shares: 0n, unmasks: 0n, expected: 3n, posted: [false, false, false] });
        expect(start).to.be.lessThan(next);

        // Round 2 runs the same way.
        await expect(advertise(rounds, alice, 2n)).to.emit(rounds, "RoundKeysAdvertised");
        expect((await state(rounds, alice)).posted).to.deep.equal([true, false, false]);
      });

    it("counts the allowlist when the round opens as expected", async function () {
      const { rounds, owner, alice, bob, carol, stranger } = await loadFixture(deployPrivate);
      await rounds.addParticipant(1n, stranger.address, 0n);
      await rounds.removeParticipant(1n, carol.address);
      await rounds.removeParticipant(1n, bob.address);
      await openRoundNow(rounds, owner);
      expect((await state(rounds, alice)).expected).to.equal(2n);
      await run(rounds, { k: [alice, stranger] });
      expect((await state(rounds, alice)).phase).to.equal(PHASE.SHARES);
    });

    it("a plain task's privateView is disabled, phase 0", async function () {
      const { rounds, alice } = await loadFixture(withPlainRound);
      const v = await rounds.privateView(1n, alice.address);
      expect([v.enabled, v.finished, v.phase, v.threshold, v.expected]).to.deep.equal([false, false, 0n, 0n, 0n]);
      await expect(rounds.privateView(9n, alice.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(9n);
    });
  });

  describe("ordering", function () {
    it("refuses shares without keys (MissingStep)", async function () {
      const { rounds, alice, bob, carol, keysDeadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob] });
      await time.setNextBlockTimestamp(keysDeadline);
      await expect(share(rounds, carol))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsMissingStep").withArgs(1n, 1n, carol.address);
      await expect(share(rounds, alice)).to.emit(rounds, "RoundSharesPosted");
    });

    it("refuses an upload without shares (MissingStep)", async function () {
      const { rounds, alice, bob, carol, sharesDeadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob] });
      await time.setNextBlockTimestamp(sharesDeadline);
      await expect(submit(rounds, carol))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsMissingStep").withArgs(1n, 1n, carol.address);
      await expect(submit(rounds, alice)).to.emit(rounds, "UpdateSubmitted");
    });

    it("refuses unmask material without an upload (MissingStep), also from a stranger", async function () {
      const { rounds, alice, bob, carol, stranger, deadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob] });
      await time.setNextBlockTimestamp(deadline);
      await expect(unmask(rounds, carol))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsMissingStep").withArgs(1n, 1n, carol.address);
      await expect(unmask(rounds, stranger))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsMissingStep").withArgs(1n, 1n, stranger.address);
      await expect(unmask(rounds, bob)).to.emit(rounds, "RoundUnmaskPosted");
    });

    it("refuses every posting twice (AlreadyPosted, AlreadySubmitted)", async function () {
      const { rounds, alice, bob, carol } = await loadFixture(withPrivateRound);
      await advertise(rounds, alice);
      await expect(advertise(rounds, alice))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadyPosted").withArgs(1n, 1n, alice.address);
      await run(rounds, { k: [bob, carol] });
      await share(rounds, alice);
      await expect(share(rounds, alice))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadyPosted").withArgs(1n, 1n, alice.address);
      await run(rounds, { s: [bob, carol] });
      await submit(rounds, alice);
      await expect(submit(rounds, alice))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadySubmitted").withArgs(1n, 1n, alice.address);
      await run(rounds, { u: [bob, carol] });
      await unmask(rounds, alice);
      await expect(unmask(rounds, alice))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadyPosted").withArgs(1n, 1n, alice.address);
      expect((await state(rounds, alice)).unmasks).to.equal(1n);
    });

    it("names the current phase when a call comes in the wrong one", async function () {
      const { rounds, alice, bob, carol, keysDeadline } = await loadFixture(withPrivateRound);
      const wrong = (call, phase) =>
        expect(call).to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongPhase").withArgs(1n, 1n, phase);

      await advertise(rounds, alice);
      await wrong(share(rounds, alice), PHASE.KEYS);
      await wrong(submit(rounds, alice), PHASE.KEYS);
      await wrong(unmask(rounds, alice), PHASE.KEYS);

      await time.setNextBlockTimestamp(keysDeadline); // bob and carol missed the keys phase
      await wrong(advertise(rounds, bob), PHASE.SHARES);
      await wrong(submit(rounds, alice), PHASE.SHARES);
      await share(rounds, alice);

      await wrong(advertise(rounds, carol), PHASE.UPLOADS);
      await wrong(share(rounds, alice), PHASE.UPLOADS);
      await wrong(unmask(rounds, alice), PHASE.UPLOADS);
      await submit(rounds, alice);

      await wrong(submit(rounds, bob), PHASE.UNMASK); // the phase comes before bob's missing shares
      await wrong(share(rounds, bob), PHASE.UNMASK);
      await unmask(rounds, alice);

      await wrong(advertise(rounds, carol), PHASE.CLOSED);
      await wrong(submit(rounds, bob), PHASE.CLOSED);
    });

    it("rejects zero keys, a zero digest and an empty CID, by name", async function () {
      const { rounds, alice, bob, carol } = await loadFixture(withPrivateRound);
      const [enc, mask, seed] = keysOf(alice.address);
      const bad = (call, name) =>
        expect(call).to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs(name);
      await bad(rounds.connect(alice).advertiseKeys(1n, 1n, ZERO, mask, seed), "encryptionKey");
      await bad(rounds.connect(alice).advertiseKeys(1n, 1n, enc, ZERO, seed), "maskKey");
      await bad(rounds.connect(alice).advertiseKeys(1n, 1n, enc, mask, ZERO), "seedCommitment");
      await run(rounds, { k: [alice, bob, carol] });
      await bad(rounds.connect(alice).postShares(1n, 1n, ZERO, SHARES_CID), "digest");
      await bad(rounds.connect(alice).postShares(1n, 1n, digest("s"), ""), "cid");
      await run(rounds, { s: [alice, bob, carol] });
      await bad(rounds.connect(alice).submitUpdate(1n, 1n, ZERO, UPDATE_CID, 1n), "digest");
      await bad(rounds.connect(alice).submitUpdate(1n, 1n, digest("u"), "", 1n), "cid");
      await bad(rounds.connect(alice).submitUpdate(1n, 1n, digest("u"), UPDATE_CID, 0n), "numSamples");
      await run(rounds, { u: [alice, bob, carol] });
      await bad(rounds.connect(alice).postUnmask(1n, 1n, ZERO, UNMASK_CID), "digest");
      await bad(rounds.connect(alice).postUnmask(1n, 1n, digest("m"), ""), "cid");
      expect(await state(rounds, alice)).to.deep.equal(
        { phase: PHASE.UNMASK, keys: 3n, shares: 3n, unmasks: 0n, expected: 3n, posted: [true, true, false] });
    });

    it("rejects accounts off the allowlist", async function () {
      const { rounds, alice, bob, carol, stranger } = await loadFixture(withPrivateRound);
      const notParticipant = (call) =>
        expect(call).to.be.revertedWithCustomError(rounds, "FederatedRoundsNotParticipant").withArgs(1n, stranger.address);
      await notParticipant(advertise(rounds, stranger));
      await run(rounds, { k: [alice, bob, carol] });
      await notParticipant(share(rounds, stranger));
      await run(rounds, { s: [alice, bob, carol] });
      await notParticipant(submit(rounds, stranger));
    });

    it("rejects the private calls on a plain task (NotPrivate)", async function () {
      const { rounds, alice } = await loadFixture(withPlainRound);
      for (const call of [advertise(rounds, alice), share(rounds, alice), unmask(rounds, alice)]) {
        await expect(call).to.be.revertedWithCustomError(rounds, "FederatedRoundsNotPrivate").withArgs(1n);
      }
    });

    it("rejects the wrong round, a task without an open round, and unknown tasks", async function () {
      const { rounds, alice, bob, carol } = await loadFixture(deployPrivate);
      await expect(advertise(rounds, alice))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNoOpenRound").withArgs(1n);
      await rounds.openRound(1n);
      await expect(advertise(rounds, alice, 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 2n);
      await run(rounds, { k: [alice, bob, carol] });
      await expect(share(rounds, alice, 0n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 0n);
      await run(rounds, { s: [alice, bob, carol] });
      await expect(submit(rounds, alice, 3n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 3n);
      await run(rounds, { u: [alice, bob, carol] });
      await expect(unmask(rounds, alice, 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 2n);
      await expect(advertise(rounds, alice, 1n, 9n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(9n);
      await expect(unmask(rounds, alice, 1n, 9n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(9n);
    });
  });

  describe("phases end at their deadline", function () {
    it("keys: a participant that never advertises holds the phase until keysDeadline, not past it",
      async function () {
        const { rounds, alice, bob, carol, keysDeadline } = await loadFixture(withPrivateRound);
        await run(rounds, { k: [alice, bob] });
        await time.increaseTo(keysDeadline - 2n);
        expect((await state(rounds, alice)).phase).to.equal(PHASE.KEYS);
        await time.setNextBlockTimestamp(keysDeadline - 1n);
        await expect(share(rounds, alice))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongPhase").withArgs(1n, 1n, PHASE.KEYS);
        await time.setNextBlockTimestamp(keysDeadline);
        await expect(advertise(rounds, carol))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongPhase").withArgs(1n, 1n, PHASE.SHARES);
        await share(rounds, alice);
        expect(await state(rounds, carol)).to.deep.equal(
          { phase: PHASE.SHARES, keys: 2n, shares: 1n, unmasks: 0n, expected: 3n, posted: [false, false, false] });
        await share(rounds, bob); // every key advertiser posted: uploads at once
        expect((await state(rounds, alice)).phase).to.equal(PHASE.UPLOADS);
      });

    it("shares: ends at sharesDeadline when an advertiser never posts", async function () {
      const { rounds, alice, bob, carol, sharesDeadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob] });
      await time.setNextBlockTimestamp(sharesDeadline - 1n);
      await expect(submit(rounds, alice))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongPhase").withArgs(1n, 1n, PHASE.SHARES);
      await time.setNextBlockTimestamp(sharesDeadline);
      await expect(share(rounds, carol))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongPhase").withArgs(1n, 1n, PHASE.UPLOADS);
    });

    it("uploads: a dropout after its shares holds the phase until the round deadline", async function () {
      const { rounds, alice, bob, carol, deadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob] });
      await time.setNextBlockTimestamp(deadline - 1n);
      await expect(unmask(rounds, alice))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongPhase").withArgs(1n, 1n, PHASE.UPLOADS);
      await time.setNextBlockTimestamp(deadline);
      await expect(submit(rounds, carol))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongPhase").withArgs(1n, 1n, PHASE.UNMASK);
      await unmask(rounds, alice);
      await unmask(rounds, bob); // both submitters unmasked: closed before unmaskDeadline
      expect(await state(rounds, carol)).to.deep.equal(
        { phase: PHASE.CLOSED, keys: 3n, shares: 3n, unmasks: 2n, expected: 3n, posted: [true, true, false] });
    });

    it("unmask: ends at unmaskDeadline; finalize waits for it and then goes through with threshold unmasks",
      async function () {
        const { rounds, agg, alice, bob, carol, unmaskDeadline } = await loadFixture(withPrivateRound);
        await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob, carol], m: [alice, bob] });
        await time.setNextBlockTimestamp(unmaskDeadline - 1n);
        await expect(finalize(rounds, agg, [0, 0, 0]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, unmaskDeadline);
        await time.setNextBlockTimestamp(unmaskDeadline);
        await expect(unmask(rounds, carol))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongPhase").withArgs(1n, 1n, PHASE.CLOSED);
        await expect(finalize(rounds, agg, [0, 0, 0])).to.emit(rounds, "RoundFinalized").withArgs(
          1n, 1n, digest("global:1"), GLOBAL_CID, ethers.keccak256(reasons(0, 0, 0)), 3n, reasons(0, 0, 0));
      });

    it("a round nobody joins closes at keysDeadline", async function () {
      const { rounds, alice, keysDeadline } = await loadFixture(withPrivateRound);
      await time.increaseTo(keysDeadline);
      expect(await state(rounds, alice)).to.deep.equal(
        { phase: PHASE.CLOSED, keys: 0n, shares: 0n, unmasks: 0n, expected: 3n, posted: [false, false, false] });
    });
  });

  describe("finalizeRound (private)", function () {
    it("is refused before the round is closed, with unmaskDeadline", async function () {
      const { rounds, agg, alice, bob, carol, unmaskDeadline } = await loadFixture(withPrivateRound);
      const running = () => expect(finalize(rounds, agg, [0, 0, 0]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, unmaskDeadline);
      await running();
      await run(rounds, { k: [alice, bob, carol] });
      await running();
      await run(rounds, { s: [alice, bob, carol] });
      await running();
      await run(rounds, { u: [alice, bob, carol], m: [alice, bob] });
      await running();
    });

    it("is refused with fewer than threshold unmask postings (NotUnmasked)", async function () {
      const { rounds, agg, alice, bob, carol, unmaskDeadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob, carol], m: [alice] });
      await time.setNextBlockTimestamp(unmaskDeadline);
      await expect(finalize(rounds, agg, [0, 0, 0]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotUnmasked").withArgs(1n, 1n, 1n, THRESHOLD);
    });

    it("keeps the plain checks: aggregator only, reasons per submission, quorum of valid updates", async function () {
      const { rounds, owner, agg, alice, bob, carol } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob, carol], m: [alice, bob, carol] });
      await expect(finalize(rounds, owner, [0, 0, 0]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotAggregator").withArgs(1n, owner.address);
      await expect(finalize(rounds, agg, [0, 0]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReasons").withArgs(1n, 1n, 2n, 3n);
      await expect(finalize(rounds, agg, [0, 5, 5]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumNotMet").withArgs(1n, 1n, 1n, QUORUM);
      await expect(finalize(rounds, agg, [0, 0, 0], 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 2n);
      await expect(finalize(rounds, agg, [0, 5, 0])).to.emit(rounds, "RoundFinalized");
    });
  });

  describe("closeFailedRound (private)", function () {
    it("is refused before the round is closed, even past the round deadline", async function () {
      const { rounds, stranger, agg, alice, bob, carol, deadline, unmaskDeadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice] });
      await time.setNextBlockTimestamp(deadline); // unmask phase: alice may still post
      for (const who of [stranger, agg]) {
        await expect(rounds.connect(who).closeFailedRound(1n, 1n, "0x"))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, unmaskDeadline);
      }
    });

    it("lets anyone close a round that ended below quorum", async function () {
      const { rounds, stranger, alice, bob, carol, deadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice] });
      await time.setNextBlockTimestamp(deadline);
      await unmask(rounds, alice); // the only submitter unmasked: closed with 1 < quorum submissions
      expect((await state(rounds, alice)).phase).to.equal(PHASE.CLOSED);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.emit(rounds, "RoundFailed").withArgs(1n, 1n, stranger.address, "0x")
        .and.to.emit(rounds, "RoundOpened");
      const task = await rounds.getTask(1n);
      expect([task.round, task.modelDigest, task.roundOpen]).to.deep.equal([2n, INITIAL_DIGEST, true]);
      expect(await state(rounds, alice)).to.deep.equal(
        { phase: PHASE.KEYS, keys: 0n, shares: 0n, unmasks: 0n, expected: 3n, posted: [false, false, false] });
    });

    it("lets anyone close a round nobody joined, right after keysDeadline", async function () {
      const { rounds, stranger, keysDeadline } = await loadFixture(withPrivateRound);
      await time.setNextBlockTimestamp(keysDeadline);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.emit(rounds, "RoundFailed").withArgs(1n, 1n, stranger.address, "0x");
    });

    it("lets anyone close a round with quorum but fewer than threshold unmask postings", async function () {
      const { rounds, stranger, alice, bob, carol, unmaskDeadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob, carol], m: [carol] });
      await time.setNextBlockTimestamp(unmaskDeadline);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.emit(rounds, "RoundFailed").withArgs(1n, 1n, stranger.address, "0x");
    });

    it("with quorum and threshold unmasks, only the aggregator, with well-formed reasons, until the grace ends",
      async function () {
        const { rounds, agg, owner, stranger, alice, bob, carol, unmaskDeadline } = await loadFixture(withPrivateRound);
        await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob, carol], m: [alice, bob] });
        await time.setNextBlockTimestamp(unmaskDeadline);
        for (const who of [stranger, owner]) {
          await expect(rounds.connect(who).closeFailedRound(1n, 1n, "0x"))
            .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumReached").withArgs(1n, 1n, 3n, QUORUM);
        }
        await expect(rounds.connect(agg).closeFailedRound(1n, 1n, "0x"))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReasons").withArgs(1n, 1n, 0n, 3n);
        await expect(rounds.connect(agg).closeFailedRound(1n, 1n, reasons(0, 14, 0)))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownReason").withArgs(1n, 1n);
        await expect(rounds.connect(agg).closeFailedRound(1n, 1n, reasons(0, 5, 0)))
          .to.emit(rounds, "RoundFailed").withArgs(1n, 1n, agg.address, reasons(0, 5, 0));
        expect((await rounds.getTask(1n)).round).to.equal(2n);
      });

    it("the quorum rule holds when the round closed early too", async function () {
      const { rounds, stranger, alice, bob, carol } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob, carol], m: [alice, bob, carol] });
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumReached").withArgs(1n, 1n, 3n, QUORUM);
    });

    it("after unmaskDeadline + gracePeriod anyone may close it; reasons given are checked", async function () {
      const { rounds, stranger, alice, bob, carol, unmaskDeadline } = await loadFixture(withPrivateRound);
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob, carol], m: [alice, bob, carol] });
      await time.setNextBlockTimestamp(unmaskDeadline + GRACE - 1n);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumReached");
      await time.setNextBlockTimestamp(unmaskDeadline + GRACE);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, reasons(0, 0)))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReasons").withArgs(1n, 1n, 2n, 3n);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.emit(rounds, "RoundFailed").withArgs(1n, 1n, stranger.address, "0x");
    });

    it("rejects the wrong round", async function () {
      const { rounds, stranger } = await loadFixture(withPrivateRound);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 2n, "0x"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 2n);
    });
  });

  describe("allowlist changes mid-round", function () {
    it("an unmasker removed after its upload still posts its unmask material; it is out of the next round",
      async function () {
        const { rounds, owner, agg, alice, bob, carol } = await loadFixture(withPrivateRound);
        await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob, carol] });
        await rounds.connect(owner).removeParticipant(1n, alice.address);
        await expect(unmask(rounds, alice))
          .to.emit(rounds, "RoundUnmaskPosted")
          .withArgs(1n, 1n, alice.address, digest(`unmask:${alice.address}:1`), UNMASK_CID);
        await run(rounds, { m: [bob, carol] });
        await finalize(rounds, agg, [0, 0, 0]);
        expect((await state(rounds, bob)).expected).to.equal(2n);
        await expect(advertise(rounds, alice, 2n))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotParticipant").withArgs(1n, alice.address);
      });
  });

  describe("maxRounds", function () {
    /** Round 1 of withLastRound run to completion by everyone. */
    async function lastRoundUnmasked() {
      const f = await withLastRound();
      const { rounds, alice, bob, carol } = f;
      await run(rounds, { k: [alice, bob, carol], s: [alice, bob, carol], u: [alice, bob, carol], m: [alice, bob, carol] });
      return f;
    }

    async function expectFinished(f, lastRound) {
      const { rounds, owner, agg, alice, stranger } = f;
      const task = await rounds.getTask(1n);
      expect([task.round, task.roundOpen]).to.deep.equal([lastRound, false]);
      expect((await rounds.participantView(1n, alice.address)).task.roundOpen).to.equal(false);
      const v = await rounds.privateView(1n, alice.address);
      expect([v.enabled, v.finished, v.phase, v.maxRounds]).to.deep.equal([true, true, PHASE.NONE, v.maxRounds]);
      const finished = (call) =>
        expect(call).to.be.revertedWithCustomError(rounds, "FederatedRoundsTaskFinished").withArgs(1n);
      await finished(advertise(rounds, alice, lastRound));
      await finished(share(rounds, alice, lastRound));
      await finished(submit(rounds, alice, lastRound));
      await finished(unmask(rounds, alice, lastRound));
      await finished(finalize(rounds, agg, [0, 0, 0], lastRound));
      await finished(rounds.connect(stranger).closeFailedRound(1n, lastRound, "0x"));
      await finished(rounds.connect(agg).closeFailedRound(1n, lastRound, reasons(0, 0, 0)));
      await finished(rounds.connect(owner).openRound(1n));
      await time.increase(10n * DURATION); // no deadline brings anything back
      await finished(rounds.connect(stranger).closeFailedRound(1n, lastRound, "0x"));
      expect((await rounds.privateView(1n, alice.address)).finished).to.equal(true);
    }

    it("finalizing the last allowed round emits TaskFinished, opens nothing, and refuses every further call",
      async function () {
        const f = await loadFixture(lastRoundUnmasked);
        const { rounds, agg } = f;
        expect((await rounds.privateView(1n, agg.address)).maxRounds).to.equal(1n);
        await expect(finalize(rounds, agg, [0, 0, 0]))
          .to.emit(rounds, "RoundFinalized")
          .and.to.emit(rounds, "TaskFinished").withArgs(1n, 1n)
          .and.not.to.emit(rounds, "RoundOpened");
        expect((await rounds.getTask(1n)).modelDigest).to.equal(digest("global:1")); // the last model stays
        await expectFinished(f, 1n);
      });

    it("failed rounds count too: maxRounds 2 ends after two failed rounds", async function () {
      const f = await deployPrivate({ maxRounds: 2n });
      const { rounds, owner, stranger } = f;
      await openRoundNow(rounds, owner);
      await time.increase(KEYS); // nobody joined: closed
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.emit(rounds, "RoundOpened").and.not.to.emit(rounds, "TaskFinished");
      await time.increase(KEYS);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 2n, "0x"))
        .to.emit(rounds, "RoundFailed").withArgs(1n, 2n, stranger.address, "0x")
        .and.to.emit(rounds, "TaskFinished").withArgs(1n, 2n)
        .and.not.to.emit(rounds, "RoundOpened");
      await expectFinished(f, 2n);
    });

    it("maxRounds 0 means no cap", async function () {
      const { rounds, stranger } = await loadFixture(withPrivateRound);
      for (let round = 1n; round <= 3n; round++) {
        await time.increase(KEYS);
        await expect(rounds.connect(stranger).closeFailedRound(1n, round, "0x"))
          .to.emit(rounds, "RoundOpened").and.not.to.emit(rounds, "TaskFinished");
      }
      expect((await rounds.getTask(1n)).round).to.equal(4n);
    });
  });

  describe("plain tasks", function () {
    it("submit, finalize and fail exactly as before: no phases, no private steps", async function () {
      const { rounds, agg, alice, bob, carol, stranger } = await loadFixture(withPlainRound);
      await expect(submit(rounds, alice)).to.emit(rounds, "UpdateSubmitted");
      await submit(rounds, bob);
      await submit(rounds, carol);
      await expect(finalize(rounds, agg, [0, 0, 0])).to.emit(rounds, "RoundFinalized").and.to.emit(rounds, "RoundOpened");
      const task = await rounds.getTask(1n);
      expect([task.round, task.roundOpen]).to.deep.equal([2n, true]);
      await submit(rounds, alice, 2n);
      await time.increaseTo((await rounds.getTask(1n)).deadline);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 2n, "0x")).to.emit(rounds, "RoundFailed");
      await time.setNextBlockTimestamp((await rounds.getTask(1n)).deadline);
      await expect(submit(rounds, alice, 3n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsDeadlinePassed");
      expect((await rounds.privateView(1n, alice.address)).phase).to.equal(PHASE.NONE);
    });
  });

  describe("gas", function () {
    it("prints advertiseKeys, postShares, private submitUpdate and postUnmask; each under 120,000", async function () {
      const { rounds, agg, alice, bob, carol } = await loadFixture(withPrivateRound);
      const lines = [];
      for (const round of [1n, 2n]) {
        const used = {};
        const measure = async (name, calls) => {
          const receipts = [];
          for (const c of calls) receipts.push(await (await c()).wait());
          used[name] = receipts.map((r) => r.gasUsed);
        };
        const all = [alice, bob, carol];
        await measure("advertiseKeys", all.map((p) => () => advertise(rounds, p, round)));
        await measure("postShares", all.map((p) => () => share(rounds, p, round)));
        await measure("submitUpdate", all.map((p) => () => submit(rounds, p, round)));
        await measure("postUnmask", all.map((p) => () => unmask(rounds, p, round)));
        await finalize(rounds, agg, [0, 0, 0], round);
        lines.push(`round ${round}: ` + Object.entries(used).map(([n, g]) => `${n} ${g.join("/")}`).join(", "));
        for (const g of Object.values(used).flat()) expect(g).to.be.lessThan(120_000n);
      }
      console.log(`      gas (alice/bob/carol): ${lines.join("; ")}`);
    });
  });
});
