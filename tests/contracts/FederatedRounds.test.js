// Contract tests for FederatedRounds: one describe per external function, every custom error with its arguments,
// every event with its fields. Run with `npx hardhat test mocha` (or `npm test`).
import { expect } from "chai";
import { network } from "hardhat";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const DURATION = 3600n;
const QUORUM = 2n;
const STRATEGY = "fedavg";
const digest = (label) => ethers.sha256(ethers.toUtf8Bytes(label));
const INITIAL_DIGEST = digest("initial model");
const INITIAL_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
const UPDATE_CID = "bafkreidivzimqfqtoqxkrpge6bjyhlvxqs3rhe73owtmdulaxr5do5in7u";
const GLOBAL_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
/** The inclusion bitmap (fedledger/inclusion.py): bit i set for each submission index i. */
const ALL_BITS = ethers.toBeHex(ethers.MaxUint256, 32);
const bits = (...indices) => ethers.toBeHex(indices.reduce((acc, i) => acc | (1n << BigInt(i)), 0n), 32);
const ZERO = ethers.ZeroHash;

/** Deploy, create task 1 (quorum 2, 3 participants) owned by `owner` with aggregator `agg`. */
async function deployWithTask() {
  const [owner, agg, alice, bob, carol, stranger, ...rest] = await ethers.getSigners();
  const rounds = await ethers.deployContract("FederatedRounds");
  await rounds.createTask(agg.address, INITIAL_DIGEST, INITIAL_CID, QUORUM, DURATION, STRATEGY);
  for (const p of [alice, bob, carol]) await rounds.addParticipant(1n, p.address);
  return { rounds, owner, agg, alice, bob, carol, stranger, rest };
}

/** As deployWithTask, with round 1 opened by the owner; returns its deadline. */
async function withOpenRound() {
  const f = await deployWithTask();
  const deadline = await openRoundNow(f.rounds, f.owner);
  return { ...f, deadline };
}

/** Open round 1 of task 1 in a block with a known timestamp; returns the deadline. */
async function openRoundNow(rounds, signer) {
  const start = BigInt(await time.latest()) + 10n;
  await time.setNextBlockTimestamp(start);
  await rounds.connect(signer).openRound(1n);
  return start + DURATION;
}

/** Task 1 full: 256 participants (alice, bob, carol and 253 funded fresh wallets), all submitted in round 1. */
async function withFullRound() {
  const f = await withOpenRound();
  const wallets = [f.alice, f.bob, f.carol];
  for (let i = 3; i < 256; i++) {
    const wallet = new ethers.Wallet(ethers.toBeHex(1000 + i, 32), ethers.provider);
    await networkHelpers.setBalance(wallet.address, 10n ** 18n);
    await f.rounds.addParticipant(1n, wallet.address);
    wallets.push(wallet);
  }
  for (const [i, w] of wallets.entries()) await submit(f.rounds, w, `u${i}`);
  return { ...f, wallets };
}

async function submit(rounds, signer, label, round = 1n, samples = 100n) {
  return rounds.connect(signer).submitUpdate(1n, round, digest(label), UPDATE_CID, samples);
}

describe("FederatedRounds", function () {
  describe("createTask", function () {
    it("creates a task owned by the caller and emits TaskCreated", async function () {
      const [owner, agg] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");

      await expect(rounds.createTask(agg.address, INITIAL_DIGEST, INITIAL_CID, QUORUM, DURATION, STRATEGY))
        .to.emit(rounds, "TaskCreated")
        .withArgs(1n, owner.address, agg.address, INITIAL_DIGEST, INITIAL_CID, QUORUM, DURATION, STRATEGY);

      expect(await rounds.taskCount()).to.equal(1n);
      const task = await rounds.getTask(1n);
      expect(task.owner).to.equal(owner.address);
      expect(task.aggregator).to.equal(agg.address);
      expect(task.quorum).to.equal(QUORUM);
      expect(task.roundDuration).to.equal(DURATION);
      expect(task.round).to.equal(0n);
      expect(task.roundOpen).to.equal(false);
      expect(task.deadline).to.equal(0n);
      expect(task.participantCount).to.equal(0n);
      expect(task.modelDigest).to.equal(INITIAL_DIGEST);
      expect(task.modelCid).to.equal(INITIAL_CID);
      expect(task.strategy).to.equal(STRATEGY);
    });

    it("numbers tasks from 1 upwards", async function () {
      const { rounds, agg } = await loadFixture(deployWithTask);
      await expect(rounds.createTask(agg.address, INITIAL_DIGEST, INITIAL_CID, 1n, 60n, "median"))
        .to.emit(rounds, "TaskCreated");
      expect(await rounds.taskCount()).to.equal(2n);
      expect((await rounds.getTask(2n)).strategy).to.equal("median");
    });

    const invalid = [
      ["aggregator", "the zero address",
        () => [ethers.ZeroAddress, INITIAL_DIGEST, INITIAL_CID, QUORUM, DURATION, STRATEGY]],
      ["initialDigest", "zero", (a) => [a, ZERO, INITIAL_CID, QUORUM, DURATION, STRATEGY]],
      ["initialCid", "empty", (a) => [a, INITIAL_DIGEST, "", QUORUM, DURATION, STRATEGY]],
      ["quorum", "zero", (a) => [a, INITIAL_DIGEST, INITIAL_CID, 0n, DURATION, STRATEGY]],
      ["roundDuration", "zero", (a) => [a, INITIAL_DIGEST, INITIAL_CID, QUORUM, 0n, STRATEGY]],
      ["roundDuration", "2^32 s", (a) => [a, INITIAL_DIGEST, INITIAL_CID, QUORUM, 2n ** 32n, STRATEGY]],
      ["strategy", "empty", (a) => [a, INITIAL_DIGEST, INITIAL_CID, QUORUM, DURATION, ""]],
    ];
    for (const [name, what, args] of invalid) {
      it(`rejects ${name} = ${what}`, async function () {
        const { rounds, agg } = await loadFixture(deployWithTask);
        await expect(rounds.createTask(...args(agg.address)))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter")
          .withArgs(name);
      });
    }
  });

  describe("addParticipant", function () {
    it("adds to the allowlist and emits ParticipantAdded", async function () {
      const { rounds, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.addParticipant(1n, stranger.address))
        .to.emit(rounds, "ParticipantAdded")
        .withArgs(1n, stranger.address);
      expect(await rounds.isParticipant(1n, stranger.address)).to.equal(true);
      expect((await rounds.getTask(1n)).participantCount).to.equal(4n);
    });

    it("rejects an unknown task", async function () {
      const { rounds, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.addParticipant(9n, stranger.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask")
        .withArgs(9n);
    });

    it("rejects a caller other than the owner", async function () {
      const { rounds, agg, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.connect(agg).addParticipant(1n, stranger.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner")
        .withArgs(1n, agg.address);
    });

    it("rejects the zero address", async function () {
      const { rounds } = await loadFixture(deployWithTask);
      await expect(rounds.addParticipant(1n, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter")
        .withArgs("account");
    });

    it("rejects a 257th participant", async function () {
      const { rounds, stranger } = await loadFixture(withFullRound);
      expect((await rounds.getTask(1n)).participantCount).to.equal(256n);
      await expect(rounds.addParticipant(1n, stranger.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsTooManyParticipants")
        .withArgs(1n, 256n);
    });

    it("rejects an account already on the allowlist", async function () {
      const { rounds, alice } = await loadFixture(deployWithTask);
      await expect(rounds.addParticipant(1n, alice.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadyParticipant")
        .withArgs(1n, alice.address);
    });
  });

  describe("removeParticipant", function () {
    it("removes from the allowlist and emits ParticipantRemoved", async function () {
      const { rounds, alice } = await loadFixture(deployWithTask);
      await expect(rounds.removeParticipant(1n, alice.address))
        .to.emit(rounds, "ParticipantRemoved")
        .withArgs(1n, alice.address);
      expect(await rounds.isParticipant(1n, alice.address)).to.equal(false);
      expect((await rounds.getTask(1n)).participantCount).to.equal(2n);
    });

    it("rejects an unknown task", async function () {
      const { rounds, alice } = await loadFixture(deployWithTask);
      await expect(rounds.removeParticipant(9n, alice.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask")
        .withArgs(9n);
    });

    it("rejects a caller other than the owner", async function () {
      const { rounds, alice, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.connect(stranger).removeParticipant(1n, alice.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner")
        .withArgs(1n, stranger.address);
    });

    it("rejects an account not on the allowlist", async function () {
      const { rounds, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.removeParticipant(1n, stranger.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotParticipant")
        .withArgs(1n, stranger.address);
    });

    it("does not let a participant who left and rejoined submit twice in one round", async function () {
      const { rounds, alice } = await loadFixture(withOpenRound);
      await submit(rounds, alice, "a1");
      await rounds.removeParticipant(1n, alice.address);
      await rounds.addParticipant(1n, alice.address);
      await expect(submit(rounds, alice, "a1-again"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadySubmitted")
        .withArgs(1n, 1n, alice.address);
    });
  });

  describe("openRound", function () {
    it("opens round 1 on the initial model and emits RoundOpened", async function () {
      const { rounds } = await loadFixture(deployWithTask);
      const start = BigInt(await time.latest()) + 10n;
      await time.setNextBlockTimestamp(start);
      await expect(rounds.openRound(1n))
        .to.emit(rounds, "RoundOpened")
        .withArgs(1n, 1n, start + DURATION, INITIAL_DIGEST);
      const task = await rounds.getTask(1n);
      expect([task.round, task.roundOpen, task.deadline, task.submissions]).to.deep.equal([
        1n, true, start + DURATION, 0n,
      ]);
    });

    it("lets the aggregator open it too", async function () {
      const { rounds, agg } = await loadFixture(deployWithTask);
      await expect(rounds.connect(agg).openRound(1n)).to.emit(rounds, "RoundOpened");
    });

    it("rejects an unknown task", async function () {
      const { rounds } = await loadFixture(deployWithTask);
      await expect(rounds.openRound(9n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask")
        .withArgs(9n);
    });

    it("rejects a caller who is neither owner nor aggregator", async function () {
      const { rounds, alice } = await loadFixture(deployWithTask);
      await expect(rounds.connect(alice).openRound(1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner")
        .withArgs(1n, alice.address);
    });

    it("rejects a second opening", async function () {
      const { rounds } = await loadFixture(withOpenRound);
      await expect(rounds.openRound(1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundAlreadyOpen")
        .withArgs(1n, 1n);
    });
  });

  describe("submitUpdate", function () {
    it("registers the update and emits UpdateSubmitted", async function () {
      const { rounds, alice } = await loadFixture(withOpenRound);
      await expect(submit(rounds, alice, "a1", 1n, 250n))
        .to.emit(rounds, "UpdateSubmitted")
        .withArgs(1n, 1n, alice.address, digest("a1"), UPDATE_CID, 250n);
      expect(await rounds.hasSubmitted(1n, 1n, alice.address)).to.equal(true);
      expect((await rounds.getTask(1n)).submissions).to.equal(1n);
    });

    it("accepts a submission in the last second before the deadline", async function () {
      const { rounds, alice, deadline } = await loadFixture(withOpenRound);
      await time.setNextBlockTimestamp(deadline - 1n);
      await expect(submit(rounds, alice, "a1")).to.emit(rounds, "UpdateSubmitted");
    });

    it("rejects an unknown task", async function () {
      const { rounds, alice } = await loadFixture(withOpenRound);
      await expect(rounds.connect(alice).submitUpdate(9n, 1n, digest("a1"), UPDATE_CID, 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask")
        .withArgs(9n);
    });

    it("rejects an account not on the allowlist", async function () {
      const { rounds, stranger } = await loadFixture(withOpenRound);
      await expect(submit(rounds, stranger, "s1"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotParticipant")
        .withArgs(1n, stranger.address);
    });

    it("rejects a submission before any round was opened", async function () {
      const { rounds, alice } = await loadFixture(deployWithTask);
      await expect(submit(rounds, alice, "a1"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNoOpenRound")
        .withArgs(1n);
    });

    it("rejects a submission naming another round", async function () {
      const { rounds, alice } = await loadFixture(withOpenRound);
      await expect(submit(rounds, alice, "a1", 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound")
        .withArgs(1n, 1n, 2n);
    });

    it("rejects a submission at the deadline", async function () {
      const { rounds, alice, deadline } = await loadFixture(withOpenRound);
      await time.setNextBlockTimestamp(deadline);
      await expect(submit(rounds, alice, "a1"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsDeadlinePassed")
        .withArgs(1n, 1n, deadline);
    });

    it("rejects a 257th submission in one round (leave-and-rejoin churn)", async function () {
      const { rounds, alice, stranger } = await loadFixture(withFullRound);
      await rounds.removeParticipant(1n, alice.address);
      await rounds.addParticipant(1n, stranger.address);
      await expect(submit(rounds, stranger, "s1"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsTooManyParticipants")
        .withArgs(1n, 256n);
    });

    it("rejects a second submission in the same round", async function () {
      const { rounds, alice } = await loadFixture(withOpenRound);
      await submit(rounds, alice, "a1");
      await expect(submit(rounds, alice, "a1-bis"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadySubmitted")
        .withArgs(1n, 1n, alice.address);
    });

    const invalid = [
      ["digest", [ZERO, UPDATE_CID, 1n]],
      ["cid", [digest("a1"), "", 1n]],
      ["numSamples", [digest("a1"), UPDATE_CID, 0n]],
    ];
    for (const [name, [d, cid, n]] of invalid) {
      it(`rejects an unusable ${name}`, async function () {
        const { rounds, alice } = await loadFixture(withOpenRound);
        await expect(rounds.connect(alice).submitUpdate(1n, 1n, d, cid, n))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter")
          .withArgs(name);
      });
    }
  });

  describe("finalizeRound", function () {
    /** Round 1 open with alice and bob submitted (quorum 2 reached; carol missing). */
    async function withQuorum() {
      const f = await withOpenRound();
      await submit(f.rounds, f.alice, "a1");
      await submit(f.rounds, f.bob, "b1");
      return f;
    }

    it("commits the global model, emits RoundFinalized and opens round 2 on it", async function () {
      const { rounds, agg, carol } = await loadFixture(withQuorum);
      await submit(rounds, carol, "c1");
      const now = BigInt(await time.latest()) + 5n;
      await time.setNextBlockTimestamp(now);
      const tx = rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1, 2), 3n);
      await expect(tx).to.emit(rounds, "RoundFinalized")
        .withArgs(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1, 2), 3n);
      await expect(tx).to.emit(rounds, "RoundOpened").withArgs(1n, 2n, now + DURATION, digest("g1"));
      const task = await rounds.getTask(1n);
      expect([task.round, task.submissions, task.modelDigest, task.modelCid]).to.deep.equal([
        2n, 0n, digest("g1"), GLOBAL_CID,
      ]);
      expect(await rounds.hasSubmitted(1n, 2n, carol.address)).to.equal(false);
    });

    it("finalizes after the deadline with only the quorum submitted", async function () {
      const { rounds, agg, deadline } = await loadFixture(withQuorum);
      await time.increaseTo(deadline);
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1), 2n))
        .to.emit(rounds, "RoundFinalized")
        .withArgs(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1), 2n);
    });

    it("rejects an unknown task", async function () {
      const { rounds, agg } = await loadFixture(withQuorum);
      await expect(rounds.connect(agg).finalizeRound(9n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1), 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask")
        .withArgs(9n);
    });

    it("rejects a caller other than the aggregator", async function () {
      const { rounds, owner, deadline } = await loadFixture(withQuorum);
      await time.increaseTo(deadline);
      await expect(rounds.connect(owner).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1), 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotAggregator")
        .withArgs(1n, owner.address);
    });

    it("rejects a task whose first round was never opened", async function () {
      const { rounds, agg } = await loadFixture(deployWithTask);
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1), 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNoOpenRound")
        .withArgs(1n);
    });

    it("rejects finalizing the same round twice", async function () {
      const { rounds, agg, deadline } = await loadFixture(withQuorum);
      await time.increaseTo(deadline);
      await rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1), 2n);
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1), 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound")
        .withArgs(1n, 2n, 1n);
    });

    it("rejects finalizing before the deadline while a participant is missing", async function () {
      const { rounds, agg, deadline } = await loadFixture(withQuorum);
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1), 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning")
        .withArgs(1n, 1n, deadline);
    });

    it("rejects including fewer updates than the quorum", async function () {
      const { rounds, agg, deadline } = await loadFixture(withQuorum);
      await time.increaseTo(deadline);
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0), 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumNotMet")
        .withArgs(1n, 1n, 1n, QUORUM);
    });

    it("rejects claiming more included updates than were submitted", async function () {
      const { rounds, agg, deadline } = await loadFixture(withQuorum);
      await time.increaseTo(deadline);
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 1, 2), 3n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsTooManyIncluded")
        .withArgs(1n, 1n, 3n, 2n);
    });

    const invalid = [
      ["globalDigest", [ZERO, GLOBAL_CID]],
      ["globalCid", [digest("g1"), ""]],
    ];
    for (const [name, [g, cid]] of invalid) {
      it(`rejects an unusable ${name}`, async function () {
        const { rounds, agg, deadline } = await loadFixture(withQuorum);
        await time.increaseTo(deadline);
        await expect(rounds.connect(agg).finalizeRound(1n, 1n, g, cid, bits(0, 1), 2n))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter")
          .withArgs(name);
      });
    }

    const badBitmaps = [
      ["sets fewer bits than numIncluded", bits(1)],
      ["sets more bits than numIncluded", bits(0, 1, 2)],
      ["is zero", ZERO],
      ["points past the last submission", bits(0, 2)],
      ["sets every bit", ALL_BITS],
    ];
    for (const [what, bitmap] of badBitmaps) {
      it(`rejects an inclusion bitmap that ${what}`, async function () {
        const { rounds, agg, deadline } = await loadFixture(withQuorum);
        await time.increaseTo(deadline);
        await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bitmap, 2n))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadInclusion")
          .withArgs(1n, 1n, bitmap);
      });
    }

    it("finalizes a full task with all 256 submissions included", async function () {
      const { rounds, agg } = await loadFixture(withFullRound);
      const tx = rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, ALL_BITS, 256n);
      await expect(tx).to.emit(rounds, "RoundFinalized")
        .withArgs(1n, 1n, digest("g1"), GLOBAL_CID, ALL_BITS, 256n);
      console.log(`      gas: finalizeRound with 256 included ${(await (await tx).wait()).gasUsed}`);
    });

    it("rejects a full bitmap whose count is off by one", async function () {
      const { rounds, agg } = await loadFixture(withFullRound);
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, ALL_BITS, 255n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadInclusion")
        .withArgs(1n, 1n, ALL_BITS);
    });

    it("accepts any subset of the submissions of the right size", async function () {
      const { rounds, agg, carol } = await loadFixture(withQuorum);
      await submit(rounds, carol, "c1");
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 2), 2n))
        .to.emit(rounds, "RoundFinalized")
        .withArgs(1n, 1n, digest("g1"), GLOBAL_CID, bits(0, 2), 2n);
    });
  });

  describe("closeFailedRound", function () {
    it("lets anyone fail a round below quorum after the deadline and reopens on the same base", async function () {
      const { rounds, alice, stranger, deadline } = await loadFixture(withOpenRound);
      await submit(rounds, alice, "a1");
      await time.setNextBlockTimestamp(deadline);
      const tx = rounds.connect(stranger).closeFailedRound(1n, 1n);
      await expect(tx).to.emit(rounds, "RoundFailed").withArgs(1n, 1n);
      await expect(tx).to.emit(rounds, "RoundOpened").withArgs(1n, 2n, deadline + DURATION, INITIAL_DIGEST);
      const task = await rounds.getTask(1n);
      expect([task.round, task.submissions, task.modelDigest]).to.deep.equal([2n, 0n, INITIAL_DIGEST]);
      await expect(submit(rounds, alice, "a2", 2n)).to.emit(rounds, "UpdateSubmitted");
    });

    it("rejects an unknown task", async function () {
      const { rounds } = await loadFixture(withOpenRound);
      await expect(rounds.closeFailedRound(9n, 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask")
        .withArgs(9n);
    });

    it("rejects a task whose first round was never opened", async function () {
      const { rounds } = await loadFixture(deployWithTask);
      await expect(rounds.closeFailedRound(1n, 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNoOpenRound")
        .withArgs(1n);
    });

    it("rejects naming a round other than the open one", async function () {
      const { rounds, deadline } = await loadFixture(withOpenRound);
      await time.increaseTo(deadline);
      await expect(rounds.closeFailedRound(1n, 3n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound")
        .withArgs(1n, 1n, 3n);
    });

    it("rejects closing before the deadline", async function () {
      const { rounds, deadline } = await loadFixture(withOpenRound);
      await expect(rounds.closeFailedRound(1n, 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning")
        .withArgs(1n, 1n, deadline);
    });

    it("rejects closing a round that reached quorum", async function () {
      const { rounds, alice, bob, deadline } = await loadFixture(withOpenRound);
      await submit(rounds, alice, "a1");
      await submit(rounds, bob, "b1");
      await time.increaseTo(deadline);
      await expect(rounds.closeFailedRound(1n, 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumReached")
        .withArgs(1n, 1n, 2n, QUORUM);
    });

    it("lets the aggregator fail a round that reached quorum once the deadline passed", async function () {
      const { rounds, agg, alice, bob, deadline } = await loadFixture(withOpenRound);
      await submit(rounds, alice, "a1");
      await submit(rounds, bob, "b1");
      await time.setNextBlockTimestamp(deadline);
      const tx = rounds.connect(agg).closeFailedRound(1n, 1n);
      await expect(tx).to.emit(rounds, "RoundFailed").withArgs(1n, 1n);
      await expect(tx).to.emit(rounds, "RoundOpened").withArgs(1n, 2n, deadline + DURATION, INITIAL_DIGEST);
    });

    it("rejects the aggregator failing a round before its deadline", async function () {
      const { rounds, agg, alice, bob, deadline } = await loadFixture(withOpenRound);
      await submit(rounds, alice, "a1");
      await submit(rounds, bob, "b1");
      await expect(rounds.connect(agg).closeFailedRound(1n, 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning")
        .withArgs(1n, 1n, deadline);
    });
  });

  describe("views", function () {
    it("getTask rejects an unknown task", async function () {
      const { rounds } = await loadFixture(deployWithTask);
      await expect(rounds.getTask(0n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask")
        .withArgs(0n);
    });

    it("hasSubmitted is false for round 0 and for rounds never submitted in", async function () {
      const { rounds, alice } = await loadFixture(withOpenRound);
      expect(await rounds.hasSubmitted(1n, 0n, alice.address)).to.equal(false);
      expect(await rounds.hasSubmitted(1n, 1n, alice.address)).to.equal(false);
      expect(await rounds.isParticipant(2n, alice.address)).to.equal(false);
    });
  });

  describe("gas", function () {
    /** Gas of one submitUpdate in a fresh task with `n` allowlisted participants (the submitter among them). */
    async function submitGas(rounds, owner, agg, submitter, n) {
      await rounds.connect(owner).createTask(agg.address, INITIAL_DIGEST, INITIAL_CID, 1n, DURATION, STRATEGY);
      const taskId = await rounds.taskCount();
      await rounds.connect(owner).addParticipant(taskId, submitter.address);
      for (let i = 1; i < n; i++) await rounds.connect(owner).addParticipant(taskId, ethers.toBeHex(2000 + i, 20));
      await rounds.connect(owner).openRound(taskId);
      const tx = await rounds.connect(submitter).submitUpdate(taskId, 1n, digest("u"), UPDATE_CID, 1000n);
      return (await tx.wait()).gasUsed;
    }

    it("keeps submitUpdate flat in the number of participants and well under 60k", async function () {
      const [owner, agg, p1, p2] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      const createGas = (await (await rounds.createTask(
        agg.address, INITIAL_DIGEST, INITIAL_CID, QUORUM, DURATION, STRATEGY,
      )).wait()).gasUsed;

      const gas2 = await submitGas(rounds, owner, agg, p1, 2);
      const gas50 = await submitGas(rounds, owner, agg, p2, 50);

      const taskId = await rounds.taskCount();
      const t = await rounds.getTask(taskId);
      await time.increaseTo(t.deadline);
      const finalizeGas = (await (await rounds.connect(agg).finalizeRound(
        taskId, 1n, digest("g"), GLOBAL_CID, bits(0), 1n,
      )).wait()).gasUsed;
      await time.increaseTo((await rounds.getTask(taskId)).deadline);
      const failGas = (await (await rounds.closeFailedRound(taskId, 2n)).wait()).gasUsed;

      console.log(`      gas: createTask ${createGas}, submitUpdate ${gas2} (2 participants) / ${gas50} (50), `
        + `finalizeRound ${finalizeGas}, closeFailedRound ${failGas}`);
      expect(gas50).to.equal(gas2);
      expect(gas2 < 50_000n).to.equal(true, `submitUpdate used ${gas2} gas`);
    });
  });
});
