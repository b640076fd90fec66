// Contract tests for FederatedRounds: one describe per external function, every custom error with its arguments,
// every event with its fields, and the gas users pay. Run with `npx hardhat test mocha` (or `npm test`).
import { expect } from "chai";
import { network } from "hardhat";
import {
  DURATION, GRACE, QUORUM, STRATEGY, MIB64, ZERO, digest, INITIAL_DIGEST, INITIAL_CID, UPDATE_CID, GLOBAL_CID, limits, reasons, createArgs,
} from "./common.js";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const OUTLIER = 12;

/** Deploy, create task 1 (quorum 2, alice, bob and carol allowlisted) owned by `owner` with aggregator `agg`. */
async function deployWithTask() {
  const [owner, agg, alice, bob, carol, stranger, ...rest] = await ethers.getSigners();
  const rounds = await ethers.deployContract("FederatedRounds");
  await rounds.createTask(...createArgs(agg.address));
  for (const p of [alice, bob, carol]) await rounds.addParticipant(1n, p.address, 0n);
  return { rounds, owner, agg, alice, bob, carol, stranger, rest };
}

/** As deployWithTask, with round 1 opened by the owner; returns its deadline. */
async function withOpenRound() {
  const f = await deployWithTask();
  const deadline = await openRoundNow(f.rounds, f.owner);
  return { ...f, deadline };
}

/** Round 1 open with alice and bob submitted (quorum reached, carol missing). */
async function withQuorum() {
  const f = await withOpenRound();
  await submit(f.rounds, f.alice, "a");
  await submit(f.rounds, f.bob, "b");
  return f;
}

/** Open round 1 of task 1 in a block with a known timestamp; returns the deadline. */
async function openRoundNow(rounds, signer, task = 1n) {
  const start = BigInt(await time.latest()) + 10n;
  await time.setNextBlockTimestamp(start);
  await rounds.connect(signer).openRound(task);
  return start + DURATION;
}

async function submit(rounds, signer, label, round = 1n, samples = 100n, task = 1n) {
  return rounds.connect(signer).submitUpdate(task, round, digest(label), UPDATE_CID, samples);
}

async function finalize(rounds, signer, codes, round = 1n, label = "g") {
  return rounds.connect(signer).finalizeRound(1n, round, digest(label), GLOBAL_CID, reasons(...codes));
}

/** Gas a transaction pays for its calldata: 4 per zero byte, 16 per nonzero byte. */
function calldataGas(data) {
  const bytes = ethers.getBytes(data);
  return bytes.reduce((sum, b) => sum + (b === 0 ? 4 : 16), 0);
}

/** Task `task` with `n` funded fresh participants who all submitted in round 1; returns them. */
async function taskWithSubmissions(rounds, owner, agg, n, task) {
  await rounds.createTask(...createArgs(agg.address, { quorum: 1n }));
  const wallets = [];
  for (let i = 0; i < n; i++) {
    const wallet = new ethers.Wallet(ethers.toBeHex(BigInt(task) * 100000n + BigInt(i) + 1n, 32), ethers.provider);
    await networkHelpers.setBalance(wallet.address, 10n ** 18n);
    wallets.push(wallet);
  }
  for (let from = 0; from < n; from += 200) {  // the batch: addParticipant's own tests are above
    const chunk = wallets.slice(from, from + 200).map((w) => w.address);
    await rounds.addParticipants(task, chunk, Array(chunk.length).fill(0n), { gasLimit: 16_000_000n });
  }
  await openRoundNow(rounds, owner, task);
  for (const [i, w] of wallets.entries()) await submit(rounds, w, `t${task}u${i}`, 1n, 100n, task);
  return wallets;
}

describe("FederatedRounds", function () {
  describe("createTask", function () {
    it("creates a task owned by the caller and emits TaskCreated and TaskConfigured", async function () {
      const [owner, agg] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");

      await expect(rounds.createTask(...createArgs(agg.address, { maxSamples: 500n, clients: 2n })))
        .to.emit(rounds, "TaskCreated")
        .withArgs(1n, owner.address, agg.address, INITIAL_DIGEST, INITIAL_CID, QUORUM, DURATION, STRATEGY)
        .and.to.emit(rounds, "TaskConfigured")
        .withArgs(1n, 500n, MIB64, GRACE, 2n);

      expect(await rounds.taskCount()).to.equal(1n);
      const task = await rounds.getTask(1n);
      expect([task.owner, task.aggregator, task.quorum, task.roundDuration]).to.deep.equal(
        [owner.address, agg.address, QUORUM, DURATION]);
      expect([task.round, task.roundOpen, task.deadline, task.participantCount]).to.deep.equal([0n, false, 0n, 0n]);
      expect([task.modelDigest, task.modelCid, task.strategy]).to.deep.equal([INITIAL_DIGEST, INITIAL_CID, STRATEGY]);
      expect([...task.limits]).to.deep.equal([500n, MIB64, GRACE, 2n]);
    });

    it("numbers tasks from 1 upwards", async function () {
      const { rounds, agg } = await loadFixture(deployWithTask);
      await rounds.createTask(...createArgs(agg.address, { strategy: "median" }));
      expect(await rounds.taskCount()).to.equal(2n);
      expect((await rounds.getTask(2n)).strategy).to.equal("median");
    });

    const invalid = [
      ["aggregator", "the zero address", () => createArgs(ethers.ZeroAddress)],
      ["initialDigest", "zero", (a) => createArgs(a, { digest: ZERO })],
      ["initialCid", "empty", (a) => createArgs(a, { cid: "" })],
      ["quorum", "zero", (a) => createArgs(a, { quorum: 0n })],
      ["quorum", "4097, above the participant limit", (a) => createArgs(a, { quorum: 4097n })],
      ["roundDuration", "zero", (a) => createArgs(a, { duration: 0n })],
      ["roundDuration", "2^32 s", (a) => createArgs(a, { duration: 2n ** 32n })],
      ["strategy", "empty", (a) => createArgs(a, { strategy: "" })],
      ["maxUpdateBytes", "zero", (a) => createArgs(a, { maxUpdateBytes: 0n })],
      ["gracePeriod", "2^32 s", (a) => createArgs(a, { grace: 2n ** 32n })],
      ["clientsPerRound", "4097", (a) => createArgs(a, { clients: 4097n })],
      ["clientsPerRound", "below the quorum", (a) => createArgs(a, { clients: 1n })],
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

  describe("setAggregator", function () {
    it("lets the owner hand the task over, mid-round, and emits AggregatorChanged", async function () {
      const { rounds, agg, stranger, alice, bob, carol } = await loadFixture(withOpenRound);
      for (const [i, p] of [alice, bob, carol].entries()) await submit(rounds, p, `x${i}`);

      await expect(rounds.setAggregator(1n, stranger.address))
        .to.emit(rounds, "AggregatorChanged").withArgs(1n, agg.address, stranger.address);

      await expect(finalize(rounds, agg, [0, 0, 0]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotAggregator").withArgs(1n, agg.address);
      await expect(finalize(rounds, stranger, [0, 0, 0])).to.emit(rounds, "RoundFinalized");
      expect((await rounds.getTask(1n)).aggregator).to.equal(stranger.address);
    });

    it("rejects anyone but the owner", async function () {
      const { rounds, agg, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.connect(agg).setAggregator(1n, stranger.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner").withArgs(1n, agg.address);
    });

    it("rejects the zero address and unknown tasks", async function () {
      const { rounds, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.setAggregator(1n, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("aggregator");
      await expect(rounds.setAggregator(9n, stranger.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(9n);
    });
  });

  describe("addParticipant", function () {
    it("adds to the allowlist with its own cap and emits ParticipantAdded", async function () {
      const { rounds, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.addParticipant(1n, stranger.address, 40n))
        .to.emit(rounds, "ParticipantAdded").withArgs(1n, stranger.address, 40n);
      expect(await rounds.isParticipant(1n, stranger.address)).to.equal(true);
      expect((await rounds.getTask(1n)).participantCount).to.equal(4n);
      expect(await rounds.sampleCap(1n, stranger.address)).to.equal(40n);
    });

    it("rejects non-owners, duplicates, the zero address and unknown tasks", async function () {
      const { rounds, alice, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.connect(stranger).addParticipant(1n, stranger.address, 0n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner").withArgs(1n, stranger.address);
      await expect(rounds.addParticipant(1n, alice.address, 0n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadyParticipant").withArgs(1n, alice.address);
      await expect(rounds.addParticipant(1n, ethers.ZeroAddress, 0n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("account");
      await expect(rounds.addParticipant(7n, alice.address, 0n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(7n);
    });
  });

  describe("addParticipants", function () {
    /** `n` distinct fresh addresses (not signers: nobody sends from them). */
    const addresses = (n, from = 1) => Array.from({ length: n }, (_, i) => ethers.toBeHex(from + i, 20));

    it("adds every account with its own cap, one ParticipantAdded each, in order", async function () {
      const { rounds, stranger, rest } = await loadFixture(deployWithTask);
      const tx = rounds.addParticipants(1n, [stranger.address, rest[0].address], [40n, 0n]);
      await expect(tx).to.emit(rounds, "ParticipantAdded").withArgs(1n, stranger.address, 40n);
      await expect(tx).to.emit(rounds, "ParticipantAdded").withArgs(1n, rest[0].address, 0n);
      expect(await rounds.isParticipant(1n, stranger.address)).to.equal(true);
      expect(await rounds.isParticipant(1n, rest[0].address)).to.equal(true);
      expect(await rounds.sampleCap(1n, stranger.address)).to.equal(40n);
      expect((await rounds.getTask(1n)).participantCount).to.equal(5n);
    });

    it("emits exactly the events of the same accounts added one by one", async function () {
      const [, agg] = await ethers.getSigners();
      const accounts = addresses(20, 0x1000);
      const caps = accounts.map((_, i) => BigInt(i % 3) * 50n);
      const logsOf = async (rounds, receipts) =>
        receipts.flatMap((r) => r.logs.map((log) => rounds.interface.parseLog(log)))
          .map((e) => [e.name, ...e.args.map(String)]);

      const single = await ethers.deployContract("FederatedRounds");
      await single.createTask(...createArgs(agg.address));
      const singles = [];
      for (const [i, a] of accounts.entries()) singles.push(await (await single.addParticipant(1n, a, caps[i])).wait());

      const batch = await ethers.deployContract("FederatedRounds");
      await batch.createTask(...createArgs(agg.address));
      const batched = await (await batch.addParticipants(1n, accounts, caps)).wait();

      const expected = await logsOf(single, singles);
      expect(expected).to.have.length(20);
      expect(await logsOf(batch, [batched])).to.deep.equal(expected);
      expect((await batch.getTask(1n)).participantCount).to.equal((await single.getTask(1n)).participantCount);
      for (const [i, a] of accounts.entries()) expect(await batch.sampleCap(1n, a)).to.equal(caps[i]);
    });

    it("rejects non-owners, unknown tasks, empty batches and mismatched caps", async function () {
      const { rounds, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.connect(stranger).addParticipants(1n, [stranger.address], [0n]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner").withArgs(1n, stranger.address);
      await expect(rounds.addParticipants(7n, [stranger.address], [0n]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(7n);
      await expect(rounds.addParticipants(1n, [], []))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("accounts");
      await expect(rounds.addParticipants(1n, [stranger.address], [0n, 0n]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("maxSamples");
    });

    it("rejects the whole batch for a zero address, a member, or a duplicate inside the batch", async function () {
      const { rounds, alice, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.addParticipants(1n, [stranger.address, ethers.ZeroAddress], [0n, 0n]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("account");
      await expect(rounds.addParticipants(1n, [stranger.address, alice.address], [0n, 0n]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadyParticipant").withArgs(1n, alice.address);
      await expect(rounds.addParticipants(1n, [stranger.address, stranger.address], [0n, 0n]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadyParticipant").withArgs(1n, stranger.address);
      expect(await rounds.isParticipant(1n, stranger.address)).to.equal(false); // nothing of a refused batch stays
      expect((await rounds.getTask(1n)).participantCount).to.equal(3n);
    });

    it("stops at 4,096 participants, refusing the batch that would cross the limit", async function () {
      this.timeout(600_000);
      const [, agg] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address));
      for (let from = 1; from <= 4000; from += 500) {
        await rounds.addParticipants(1n, addresses(500, from), Array(500).fill(0n), { gasLimit: 16_000_000n });
      }
      await expect(rounds.addParticipants(1n, addresses(97, 4001), Array(97).fill(0n)))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsTooManyParticipants").withArgs(1n, 4096n);
      await rounds.addParticipants(1n, addresses(96, 4001), Array(96).fill(0n));
      expect((await rounds.getTask(1n)).participantCount).to.equal(4096n);
    });
  });

  describe("removeParticipant", function () {
    it("removes from the allowlist and emits ParticipantRemoved", async function () {
      const { rounds, alice } = await loadFixture(deployWithTask);
      await expect(rounds.removeParticipant(1n, alice.address))
        .to.emit(rounds, "ParticipantRemoved").withArgs(1n, alice.address);
      expect(await rounds.isParticipant(1n, alice.address)).to.equal(false);
      expect((await rounds.getTask(1n)).participantCount).to.equal(2n);
    });

    it("rejects non-owners and accounts not on the allowlist", async function () {
      const { rounds, alice, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.connect(alice).removeParticipant(1n, alice.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner").withArgs(1n, alice.address);
      await expect(rounds.removeParticipant(1n, stranger.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotParticipant").withArgs(1n, stranger.address);
    });
  });

  describe("openRound", function () {
    it("opens round 1 with a deadline, the base digest and a seed", async function () {
      const { rounds, owner } = await loadFixture(deployWithTask);
      const start = BigInt(await time.latest()) + 10n;
      await time.setNextBlockTimestamp(start);
      const tx = await rounds.connect(owner).openRound(1n);
      const receipt = await tx.wait();
      const opened = rounds.interface.parseLog(receipt.logs[0]);
      expect(opened.name).to.equal("RoundOpened");
      expect([opened.args.taskId, opened.args.round, opened.args.deadline, opened.args.baseDigest]).to.deep.equal(
        [1n, 1n, start + DURATION, INITIAL_DIGEST]);
      expect(opened.args.seed).to.not.equal(ZERO);
    });

    it("lets the aggregator open it too", async function () {
      const { rounds, agg } = await loadFixture(deployWithTask);
      await expect(rounds.connect(agg).openRound(1n)).to.emit(rounds, "RoundOpened");
    });

    it("rejects a stranger with an error naming both roles", async function () {
      const { rounds, stranger } = await loadFixture(deployWithTask);
      await expect(rounds.connect(stranger).openRound(1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwnerOrAggregator").withArgs(1n, stranger.address);
    });

    it("rejects opening twice and unknown tasks", async function () {
      const { rounds, owner } = await loadFixture(withOpenRound);
      await expect(rounds.connect(owner).openRound(1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundAlreadyOpen").withArgs(1n, 1n);
      await expect(rounds.openRound(5n)).to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask");
    });

    it("gives every round its own seed", async function () {
      const { rounds, agg, alice, bob, carol } = await loadFixture(withOpenRound);
      for (const [i, p] of [alice, bob, carol].entries()) await submit(rounds, p, `s${i}`);
      await finalize(rounds, agg, [0, 0, 0]);
      const opened = await rounds.queryFilter(rounds.filters.RoundOpened(1n));
      expect(opened.map((e) => e.args.round)).to.deep.equal([1n, 2n]);
      expect(opened[0].args.seed).to.not.equal(opened[1].args.seed);
    });
  });

  describe("submitUpdate", function () {
    it("registers the update and emits UpdateSubmitted", async function () {
      const { rounds, alice } = await loadFixture(withOpenRound);
      await expect(submit(rounds, alice, "a", 1n, 7n))
        .to.emit(rounds, "UpdateSubmitted").withArgs(1n, 1n, alice.address, digest("a"), UPDATE_CID, 7n);
      expect(await rounds.hasSubmitted(1n, 1n, alice.address)).to.equal(true);
      expect((await rounds.getTask(1n)).submissions).to.equal(1n);
    });

    it("rejects strangers, unknown tasks and tasks without an open round", async function () {
      const { rounds, stranger, alice } = await loadFixture(deployWithTask);
      await expect(submit(rounds, alice, "a"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNoOpenRound").withArgs(1n);
      await expect(submit(rounds, stranger, "s"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotParticipant").withArgs(1n, stranger.address);
      await expect(submit(rounds, alice, "a", 1n, 100n, 3n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(3n);
    });

    it("rejects the wrong round, after the deadline, and twice per round (also after leaving and rejoining)",
      async function () {
        const { rounds, alice, bob, deadline } = await loadFixture(withOpenRound);
        await expect(submit(rounds, alice, "a", 2n))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 2n);
        await submit(rounds, alice, "a");
        await expect(submit(rounds, alice, "again"))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadySubmitted").withArgs(1n, 1n, alice.address);
        await rounds.removeParticipant(1n, alice.address);
        await rounds.addParticipant(1n, alice.address, 0n);
        await expect(submit(rounds, alice, "rejoined"))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadySubmitted");
        await time.setNextBlockTimestamp(deadline);
        await expect(submit(rounds, bob, "late"))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsDeadlinePassed").withArgs(1n, 1n, deadline);
      });

    it("rejects a zero digest, an empty CID and zero samples", async function () {
      const { rounds, alice } = await loadFixture(withOpenRound);
      await expect(rounds.connect(alice).submitUpdate(1n, 1n, ZERO, UPDATE_CID, 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("digest");
      await expect(rounds.connect(alice).submitUpdate(1n, 1n, digest("a"), "", 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("cid");
      await expect(submit(rounds, alice, "a", 1n, 0n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("numSamples");
    });

    it("caps the claimed samples by the tighter of the task cap and the participant's own", async function () {
      const [owner, agg, alice, bob] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address, { maxSamples: 1000n }));
      await rounds.addParticipant(1n, alice.address, 50n);
      await rounds.addParticipant(1n, bob.address, 0n);
      await openRoundNow(rounds, owner);
      expect(await rounds.sampleCap(1n, alice.address)).to.equal(50n);
      expect(await rounds.sampleCap(1n, bob.address)).to.equal(1000n);

      await expect(submit(rounds, alice, "a", 1n, 51n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsTooManySamples").withArgs(1n, alice.address, 51n, 50n);
      await expect(submit(rounds, bob, "b", 1n, 2n ** 64n - 1n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsTooManySamples")
        .withArgs(1n, bob.address, 2n ** 64n - 1n, 1000n);
      await expect(submit(rounds, alice, "a", 1n, 50n)).to.emit(rounds, "UpdateSubmitted");
      await expect(submit(rounds, bob, "b", 1n, 1000n)).to.emit(rounds, "UpdateSubmitted");
    });
  });

  describe("finalizeRound", function () {
    it("commits the model, emits every outcome with numIncluded and includedRoot, and opens the next round",
      async function () {
        const { rounds, agg, alice, bob, carol } = await loadFixture(withOpenRound);
        for (const [i, p] of [alice, bob, carol].entries()) await submit(rounds, p, `u${i}`);
        const outcome = reasons(0, 8, 0);

        await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, outcome))
          .to.emit(rounds, "RoundFinalized")
          .withArgs(1n, 1n, digest("g"), GLOBAL_CID, ethers.keccak256(outcome), 2n, outcome)
          .and.to.emit(rounds, "RoundOpened");
        const task = await rounds.getTask(1n);
        expect([task.round, task.submissions, task.modelDigest, task.modelCid]).to.deep.equal(
          [2n, 0n, digest("g"), GLOBAL_CID]);
      });

    it("counts outliers toward the quorum but not as included", async function () {
      const { rounds, agg, alice, bob, carol } = await loadFixture(withOpenRound);
      for (const [i, p] of [alice, bob, carol].entries()) await submit(rounds, p, `u${i}`);
      await expect(finalize(rounds, agg, [OUTLIER, 0, 5]))
        .to.emit(rounds, "RoundFinalized").withArgs(1n, 1n, digest("g"), GLOBAL_CID,
          ethers.keccak256(reasons(OUTLIER, 0, 5)), 1n, reasons(OUTLIER, 0, 5));
    });

    it("rejects fewer than quorum valid updates, and none included", async function () {
      const { rounds, agg, alice, bob, carol } = await loadFixture(withOpenRound);
      for (const [i, p] of [alice, bob, carol].entries()) await submit(rounds, p, `u${i}`);
      await expect(finalize(rounds, agg, [0, 5, 8]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumNotMet").withArgs(1n, 1n, 1n, QUORUM);
      await expect(finalize(rounds, agg, [OUTLIER, OUTLIER, OUTLIER]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumNotMet").withArgs(1n, 1n, 3n, QUORUM);
    });

    it("rejects reasons that do not cover exactly the submissions", async function () {
      const { rounds, agg, alice, bob, carol } = await loadFixture(withOpenRound);
      for (const [i, p] of [alice, bob, carol].entries()) await submit(rounds, p, `u${i}`);
      await expect(finalize(rounds, agg, [0, 0]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReasons").withArgs(1n, 1n, 2n, 3n);
      await expect(finalize(rounds, agg, [0, 0, 0, 0]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReasons").withArgs(1n, 1n, 4n, 3n);
    });

    for (const [what, bad] of [["14", 14], ["0x80", 0x80], ["0xff", 0xff]]) {
      it(`rejects an unknown reason code ${what} hidden in a long array`, async function () {
        const f = await loadFixture(withOpenRound);
        const { rounds, owner, agg } = f;
        const wallets = [];
        for (let i = 0; i < 97; i++) {
          const w = new ethers.Wallet(ethers.toBeHex(5000n + BigInt(i), 32), ethers.provider);
          await networkHelpers.setBalance(w.address, 10n ** 18n);
          await rounds.connect(owner).addParticipant(1n, w.address, 0n);
          wallets.push(w);
        }
        for (const [i, p] of [f.alice, f.bob, f.carol, ...wallets].entries()) await submit(rounds, p, `v${i}`);
        const codes = new Array(100).fill(0);
        codes[61] = bad;
        await expect(finalize(rounds, agg, codes))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownReason").withArgs(1n, 1n);
      });
    }

    it("ignores whatever the caller puts in the calldata padding after the reasons", async function () {
      const { rounds, agg, alice, bob, carol } = await loadFixture(withOpenRound);
      for (const [i, p] of [alice, bob, carol].entries()) await submit(rounds, p, `u${i}`);
      // reasons = 0x000000 (3 included), then padding of 0x0c (outlier) bytes instead of zeros
      const honest = rounds.interface.encodeFunctionData("finalizeRound",
        [1n, 1n, digest("g"), GLOBAL_CID, reasons(0, 0, 0)]);
      const bytes = ethers.getBytes(honest);
      const tail = bytes.length - 32; // the last word holds the 3 reason bytes and 29 padding bytes
      for (let i = tail + 3; i < bytes.length; i++) bytes[i] = 0x0c;
      const tx = await agg.sendTransaction({ to: await rounds.getAddress(), data: ethers.hexlify(bytes) });
      const log = rounds.interface.parseLog((await tx.wait()).logs[0]);
      expect(log.name).to.equal("RoundFinalized");
      expect(log.args.numIncluded).to.equal(3n);
      expect(log.args.reasons).to.equal(reasons(0, 0, 0));
    });

    it("waits for everyone or the deadline; clientsPerRound submissions are enough when the task samples",
      async function () {
        const { rounds, owner, agg, alice, bob, deadline } = await loadFixture(withOpenRound);
        await submit(rounds, alice, "a");
        await submit(rounds, bob, "b");
        await expect(finalize(rounds, agg, [0, 0]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, deadline);
        await time.setNextBlockTimestamp(deadline);
        await expect(finalize(rounds, agg, [0, 0])).to.emit(rounds, "RoundFinalized");

        await rounds.createTask(...createArgs(agg.address, { clients: 2n }));
        for (const p of [alice, bob, owner]) await rounds.addParticipant(2n, p.address, 0n);
        await openRoundNow(rounds, owner, 2n);
        await submit(rounds, alice, "a2", 1n, 100n, 2n);
        await submit(rounds, bob, "b2", 1n, 100n, 2n);
        await expect(rounds.connect(agg).finalizeRound(2n, 1n, digest("g2"), GLOBAL_CID, reasons(0, 0)))
          .to.emit(rounds, "RoundFinalized");
      });

    it("rejects non-aggregators, the wrong round, a zero digest and an empty CID", async function () {
      const { rounds, agg, alice, bob, carol, owner } = await loadFixture(withOpenRound);
      for (const [i, p] of [alice, bob, carol].entries()) await submit(rounds, p, `u${i}`);
      await expect(finalize(rounds, owner, [0, 0, 0]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotAggregator").withArgs(1n, owner.address);
      await expect(finalize(rounds, agg, [0, 0, 0], 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 2n);
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, ZERO, GLOBAL_CID, reasons(0, 0, 0)))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("globalDigest");
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), "", reasons(0, 0, 0)))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("globalCid");
    });

    it("rejects a task whose first round was never opened", async function () {
      const { rounds, agg } = await loadFixture(deployWithTask);
      await expect(finalize(rounds, agg, []))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNoOpenRound").withArgs(1n);
    });
  });

  describe("closeFailedRound", function () {
    it("lets anyone fail a round below quorum after the deadline and reopens on the same base", async function () {
      const { rounds, alice, stranger, deadline } = await loadFixture(withOpenRound);
      await submit(rounds, alice, "a");
      await time.setNextBlockTimestamp(deadline);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.emit(rounds, "RoundFailed").withArgs(1n, 1n, stranger.address, "0x");
      const task = await rounds.getTask(1n);
      expect([task.round, task.modelDigest]).to.deep.equal([2n, INITIAL_DIGEST]);
    });

    it("rejects closing before the deadline, the wrong round and unopened tasks", async function () {
      const { rounds, stranger, deadline } = await loadFixture(withOpenRound);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, deadline);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 3n, "0x"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 3n);
      await rounds.createTask(...createArgs(stranger.address));
      await expect(rounds.closeFailedRound(2n, 1n, "0x"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNoOpenRound").withArgs(2n);
    });

    it("inside the grace period, only the aggregator may fail a round with quorum", async function () {
      const { rounds, stranger, deadline } = await loadFixture(withQuorum);
      await time.setNextBlockTimestamp(deadline);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumReached").withArgs(1n, 1n, 2n, QUORUM);
    });

    it("after the grace period anyone may fail it, so an absent aggregator freezes nothing", async function () {
      const { rounds, stranger, deadline } = await loadFixture(withQuorum);
      await time.setNextBlockTimestamp(deadline + GRACE);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.emit(rounds, "RoundFailed").withArgs(1n, 1n, stranger.address, "0x");
    });

    it("lets the aggregator fail it inside the grace period only by naming fewer than quorum valid updates",
      async function () {
        const { rounds, agg, deadline } = await loadFixture(withQuorum);
        await time.setNextBlockTimestamp(deadline);
        await expect(rounds.connect(agg).closeFailedRound(1n, 1n, "0x"))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReasons").withArgs(1n, 1n, 0n, 2n);
        await expect(rounds.connect(agg).closeFailedRound(1n, 1n, reasons(0, OUTLIER)))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsEnoughValid").withArgs(1n, 1n, 2n, QUORUM);
        await expect(rounds.connect(agg).closeFailedRound(1n, 1n, reasons(0, 5)))
          .to.emit(rounds, "RoundFailed").withArgs(1n, 1n, agg.address, reasons(0, 5));
      });

    it("checks reasons given when they are optional", async function () {
      const { rounds, alice, stranger, deadline } = await loadFixture(withOpenRound);
      await submit(rounds, alice, "a");
      await time.setNextBlockTimestamp(deadline);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, reasons(0, 0)))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReasons").withArgs(1n, 1n, 2n, 1n);
    });
  });

  describe("views", function () {
    it("getTask rejects an unknown task; hasSubmitted is false for round 0 and rounds never submitted in",
      async function () {
        const { rounds, alice } = await loadFixture(withOpenRound);
        await expect(rounds.getTask(42n)).to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask");
        expect(await rounds.hasSubmitted(1n, 0n, alice.address)).to.equal(false);
        expect(await rounds.hasSubmitted(1n, 1n, alice.address)).to.equal(false);
      });
  });

  describe("participantView", function () {
    it("returns getTask, isParticipant, hasSubmitted, sampleCap and the block's timestamp in one call",
      async function () {
        const { rounds, alice, bob, stranger } = await loadFixture(withOpenRound);
        await rounds.addParticipant(1n, stranger.address, 40n);
        await submit(rounds, alice, "a");
        const now = BigInt(await time.latest());
        const task = await rounds.getTask(1n);

        const a = await rounds.participantView(1n, alice.address);
        const b = await rounds.participantView(1n, bob.address);
        const s = await rounds.participantView(1n, stranger.address);
        const [owner] = await ethers.getSigners();
        const o = await rounds.participantView(1n, owner.address);

        expect(a.task).to.deep.equal(task);
        expect([a.isParticipant, a.hasSubmitted, a.sampleCap]).to.deep.equal([true, true, 0n]);
        expect([b.isParticipant, b.hasSubmitted]).to.deep.equal([true, false]);
        expect([s.isParticipant, s.hasSubmitted, s.sampleCap]).to.deep.equal([true, false, 40n]);
        expect([o.isParticipant, o.hasSubmitted]).to.deep.equal([false, false]);
        expect(a.timestamp).to.be.greaterThanOrEqual(now);
        expect(a.timestamp).to.equal(await rounds.participantView(1n, alice.address).then((v) => v.timestamp));
      });

    it("agrees with the single views for the task cap, before any round and after a round moved on",
      async function () {
        const [owner, agg, alice] = await ethers.getSigners();
        const rounds = await ethers.deployContract("FederatedRounds");
        await rounds.createTask(...createArgs(agg.address, { quorum: 1n, maxSamples: 70n }));
        await rounds.addParticipant(1n, alice.address, 100n);
        const before = await rounds.participantView(1n, alice.address);
        expect([before.task.roundOpen, before.hasSubmitted, before.sampleCap]).to.deep.equal([false, false, 70n]);
        await openRoundNow(rounds, owner);
        await submit(rounds, alice, "a", 1n, 50n);
        await rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, reasons(0));
        const after = await rounds.participantView(1n, alice.address);
        expect(after.task.round).to.equal(2n);
        expect(after.hasSubmitted).to.equal(await rounds.hasSubmitted(1n, 2n, alice.address));
        expect(after.hasSubmitted).to.equal(false);
        expect(after.sampleCap).to.equal(await rounds.sampleCap(1n, alice.address));
      });

    it("rejects an unknown task like getTask", async function () {
      const { rounds, alice } = await loadFixture(deployWithTask);
      await expect(rounds.participantView(42n, alice.address))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(42n);
    });
  });

  describe("limits", function () {
    it("stops at 4,096 participants", async function () {
      this.timeout(600_000);
      const [owner, agg] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address));
      for (let from = 1; from <= 4000; from += 500) {  // the first 4,000 in batches, the last ones one by one
        const batch = Array.from({ length: 500 }, (_, k) => ethers.toBeHex(from + k, 20));
        await rounds.addParticipants(1n, batch, Array(500).fill(0n), { gasLimit: 16_000_000n });
      }
      for (let i = 4001; i <= 4096; i++) await rounds.addParticipant(1n, ethers.toBeHex(i, 20), 0n);
      await expect(rounds.addParticipant(1n, ethers.toBeHex(4097, 20), 0n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsTooManyParticipants").withArgs(1n, 4096n);
      expect((await rounds.getTask(1n)).participantCount).to.equal(4096n);
      void owner;
    });
  });

  describe("gas", function () {
    this.timeout(600_000);

    it("keeps submitUpdate flat in the number of participants and under 45,000", async function () {
      const [owner, agg] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      const gas = [];
      for (const [task, n] of [[1n, 2], [2n, 50], [3n, 1024]]) {
        const wallets = await taskWithSubmissions(rounds, owner, agg, n - 1, task);
        const last = new ethers.Wallet(ethers.toBeHex(999999n + task, 32), ethers.provider);
        await networkHelpers.setBalance(last.address, 10n ** 18n);
        await rounds.addParticipant(task, last.address, 0n);
        const receipt = await (await submit(rounds, last, `last${task}`, 1n, 100n, task)).wait();
        gas.push([n, receipt.gasUsed]);
        void wallets;
      }
      console.log(`      gas: submitUpdate ${gas.map(([n, g]) => `${g} (${n} participants)`).join(", ")}`);
      for (const [, g] of gas) expect(g).to.be.lessThanOrEqual(45_000n);
      expect(gas[2][1] - gas[0][1]).to.be.lessThanOrEqual(100n);
    });

    it("prints addParticipants for 1, 100 and 1,000 accounts against as many addParticipant calls",
      async function () {
        // 1,000 accounts take ~24M gas, above the 2^24 (16,777,216) gas cap per transaction of EIP-7825 (Osaka):
        // they go in batches of 200 (~4.9M gas each), as `Ledger.add_participants` sends them.
        const BATCH = 200;
        const [, agg] = await ethers.getSigners();
        const rounds = await ethers.deployContract("FederatedRounds");
        const lines = [];
        let task = 0n;
        for (const n of [1, 100, 1000]) {
          const accounts = Array.from({ length: n }, (_, i) => ethers.toBeHex(n * 10_000 + i + 1, 20));
          await rounds.createTask(...createArgs(agg.address));
          task += 1n;
          let batched = 0n;
          for (let i = 0; i < n; i += BATCH) {
            const chunk = accounts.slice(i, i + BATCH);
            const receipt = await (await rounds.addParticipants(task, chunk, Array(chunk.length).fill(0n))).wait();
            batched += receipt.gasUsed;
          }
          await rounds.createTask(...createArgs(agg.address));
          task += 1n;
          let singles = 0n;
          for (const a of accounts) singles += (await (await rounds.addParticipant(task, a, 0n)).wait()).gasUsed;
          const txs = Math.ceil(n / BATCH);
          lines.push(`${n} account${n === 1 ? "" : "s"}: ${batched} in ${txs} tx (${batched / BigInt(n)} per account), ` +
            `${singles} in ${n} addParticipant (${singles / BigInt(n)} per account)`);
          if (n > 1) expect(batched).to.be.lessThan(singles); // one account pays the arrays' calldata
        }
        console.log(`      gas: addParticipants ${lines.join("; ")}`);
      });

    it("keeps finalizeRound under 120,000 gas without calldata at 1,024 submissions", async function () {
      const [owner, agg] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      const lines = [];
      let task = 1n;
      for (const n of [16, 256, 1024]) {
        for (const mixed of [false, true]) {
          await taskWithSubmissions(rounds, owner, agg, n, task);
          const codes = Array.from({ length: n }, (_, i) => (mixed && i % 3 === 1 ? 5 + (i % 8) : 0));
          const cid = `bafkreig${"a".repeat(51)}${task}`.slice(0, 59); // a new CID every round: real writes
          const tx = await rounds.connect(agg).finalizeRound(task, 1n, digest(`g${task}`), cid, reasons(...codes));
          const receipt = await tx.wait();
          const withoutCalldata = receipt.gasUsed - BigInt(calldataGas(tx.data));
          lines.push(`${n} ${mixed ? "mixed" : "included"}: ${receipt.gasUsed} total, ${withoutCalldata} without calldata`);
          if (n === 1024) expect(withoutCalldata).to.be.lessThanOrEqual(120_000n);
          task += 1n;
        }
      }
      console.log(`      gas: finalizeRound ${lines.join("; ")}`);
    });
  });
});
