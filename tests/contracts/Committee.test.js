// Contract tests for committees of aggregators (issue 18): setCommittee, attestRound, and what a committee task
// refuses (finalizeRound, the aggregator's early closeFailedRound). Run with `npx hardhat test mocha`.
import { expect } from "chai";
import { network } from "hardhat";
import {
  DURATION, GRACE, QUORUM, MIB64, ZERO, digest, INITIAL_DIGEST, INITIAL_CID, UPDATE_CID, GLOBAL_CID, limits, reasons, createArgs,
} from "./common.js";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const OTHER_CID = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";

/** Task 1 (quorum 2; alice, bob, carol allowlisted) with committee m1, m2, m3 (threshold 2) and round 1 open. */
async function withCommitteeRound() {
  const [owner, agg, alice, bob, carol, stranger, m1, m2, m3, m4, ...rest] = await ethers.getSigners();
  const rounds = await ethers.deployContract("FederatedRounds");
  await rounds.createTask(...createArgs(agg.address));
  for (const p of [alice, bob, carol]) await rounds.addParticipant(1n, p.address, 0n);
  await rounds.setCommittee(1n, [m1.address, m2.address, m3.address], 2);
  const start = BigInt(await time.latest()) + 10n;
  await time.setNextBlockTimestamp(start);
  await rounds.openRound(1n);
  return { rounds, owner, agg, alice, bob, carol, stranger, m1, m2, m3, m4, rest, deadline: start + DURATION };
}

/** As withCommitteeRound, with alice, bob and carol all submitted (the round may close at once). */
async function withAllIn() {
  const f = await withCommitteeRound();
  for (const p of [f.alice, f.bob, f.carol]) await submit(f.rounds, p);
  return f;
}

/** As withCommitteeRound, with alice and bob submitted (quorum) and the deadline passed. */
async function withQuorumPastDeadline() {
  const f = await withCommitteeRound();
  for (const p of [f.alice, f.bob]) await submit(f.rounds, p);
  await time.increaseTo(f.deadline);
  return f;
}

const submit = (rounds, signer, task = 1n, round = 1n) =>
  rounds.connect(signer).submitUpdate(task, round, digest(`u:${signer.address}:${round}`), UPDATE_CID, 100n);
/** A member's attestation of round 1: the global model `label` (null: a failure) with `codes`. */
const attest = (rounds, member, codes, label = "g", cid = GLOBAL_CID, round = 1n) =>
  rounds.connect(member).attestRound(1n, round, label === null ? ZERO : digest(label), label === null ? "" : cid,
    reasons(...codes));

/** The names of the events a transaction emitted, in order. */
async function eventNames(rounds, tx) {
  const receipt = await tx.wait();
  return receipt.logs.map((log) => rounds.interface.parseLog(log).name);
}

describe("FederatedRounds committees", function () {
  describe("setCommittee", function () {
    it("sets the members and threshold, numbers the epoch and emits CommitteeChanged", async function () {
      const [owner, agg, m1, m2, m3] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address));
      const first = [m1.address, m2.address, m3.address];

      await expect(rounds.connect(owner).setCommittee(1n, first, 2))
        .to.emit(rounds, "CommitteeChanged").withArgs(1n, first, 2n, 1n);
      let c = await rounds.committee(1n);
      expect([[...c.members], c.threshold, c.epoch]).to.deep.equal([first, 2n, 1n]);

      await expect(rounds.setCommittee(1n, [m3.address], 1))
        .to.emit(rounds, "CommitteeChanged").withArgs(1n, [m3.address], 1n, 2n);
      c = await rounds.committee(1n);
      expect([[...c.members], c.threshold, c.epoch]).to.deep.equal([[m3.address], 1n, 2n]);
    });

    it("a task without a committee reads as empty, epoch 0", async function () {
      const [, agg] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address));
      const c = await rounds.committee(1n);
      expect([[...c.members], c.threshold, c.epoch]).to.deep.equal([[], 0n, 0n]);
      await expect(rounds.committee(2n)).to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask");
    });

    it("rejects anyone but the owner, and unknown tasks", async function () {
      const { rounds, agg, m1 } = await loadFixture(withCommitteeRound);
      await expect(rounds.connect(agg).setCommittee(1n, [m1.address], 1))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner").withArgs(1n, agg.address);
      await expect(rounds.setCommittee(9n, [m1.address], 1))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(9n);
    });

    it("rejects no members, 17 members, a zero address and a duplicate (members)", async function () {
      const { rounds, m1, m2 } = await loadFixture(withCommitteeRound);
      const seventeen = Array.from({ length: 17 }, (_, i) => ethers.toBeHex(i + 100, 20));
      for (const members of [[], seventeen, [m1.address, ethers.ZeroAddress], [m1.address, m2.address, m1.address]]) {
        await expect(rounds.setCommittee(1n, members, 1))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("members");
      }
      await expect(rounds.setCommittee(1n, seventeen.slice(0, 16), 16)).to.emit(rounds, "CommitteeChanged");
    });

    it("rejects threshold 0 and threshold above the member count (threshold)", async function () {
      const { rounds, m1, m2 } = await loadFixture(withCommitteeRound);
      for (const threshold of [0, 3]) {
        await expect(rounds.setCommittee(1n, [m1.address, m2.address], threshold))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("threshold");
      }
    });
  });

  describe("attestRound", function () {
    it("2 of 3: the first attestation is recorded, the second agreeing one finalizes with its CID", async function () {
      const { rounds, m1, m2 } = await loadFixture(withAllIn);
      const codes = reasons(0, 0, 0);

      const first = attest(rounds, m1, [0, 0, 0]);
      await expect(first).to.emit(rounds, "RoundAttested")
        .withArgs(1n, 1n, m1.address, digest("g"), GLOBAL_CID, codes);
      await expect(first).to.not.emit(rounds, "RoundFinalized");
      expect((await rounds.getTask(1n)).round).to.equal(1n);

      const second = await attest(rounds, m2, [0, 0, 0], "g", OTHER_CID);
      const block = await ethers.provider.getBlock("latest");
      await expect(second).to.emit(rounds, "RoundAttested")
        .withArgs(1n, 1n, m2.address, digest("g"), OTHER_CID, codes);
      await expect(second).to.emit(rounds, "RoundFinalized")
        .withArgs(1n, 1n, digest("g"), OTHER_CID, ethers.keccak256(codes), 3n, codes);
      await expect(second).to.emit(rounds, "RoundOpened")
        .withArgs(1n, 2n, BigInt(block.timestamp) + DURATION, digest("g"), (s) => s !== ZERO);
      expect(await eventNames(rounds, second)).to.deep.equal(["RoundAttested", "RoundFinalized", "RoundOpened"]);
      const task = await rounds.getTask(1n);
      expect([task.round, task.modelDigest, task.modelCid]).to.deep.equal([2n, digest("g"), OTHER_CID]);
    });

    it("a disagreeing attestation (other reasons) is recorded but not counted", async function () {
      const { rounds, m1, m2, m3 } = await loadFixture(withAllIn);
      await attest(rounds, m1, [0, 0, 0]);

      await expect(attest(rounds, m2, [0, 0, 1]))
        .to.emit(rounds, "RoundAttested").withArgs(1n, 1n, m2.address, digest("g"), GLOBAL_CID, reasons(0, 0, 1))
        .and.to.not.emit(rounds, "RoundFinalized");
      expect((await rounds.getTask(1n)).round).to.equal(1n);

      await expect(attest(rounds, m3, [0, 0, 0])).to.emit(rounds, "RoundFinalized")
        .withArgs(1n, 1n, digest("g"), GLOBAL_CID, ethers.keccak256(reasons(0, 0, 0)), 3n, reasons(0, 0, 0));
    });

    it("a liar's global digest does not count; the two honest members finalize theirs", async function () {
      const { rounds, m1, m2, m3 } = await loadFixture(withAllIn);
      await expect(attest(rounds, m1, [0, 0, 0], "poisoned"))
        .to.emit(rounds, "RoundAttested").withArgs(1n, 1n, m1.address, digest("poisoned"), GLOBAL_CID, reasons(0, 0, 0));
      await expect(attest(rounds, m2, [0, 0, 0], "honest")).to.not.emit(rounds, "RoundFinalized");
      await expect(attest(rounds, m3, [0, 0, 0], "honest")).to.emit(rounds, "RoundFinalized")
        .withArgs(1n, 1n, digest("honest"), GLOBAL_CID, ethers.keccak256(reasons(0, 0, 0)), 3n, reasons(0, 0, 0));
      expect((await rounds.getTask(1n)).modelDigest).to.equal(digest("honest"));
    });

    it("two agreeing failure attestations fail the round, closedBy the second; the next opens on the same base",
      async function () {
        const { rounds, m1, m2 } = await loadFixture(withQuorumPastDeadline);
        const codes = reasons(1, 1); // neither update valid: fewer than quorum

        await expect(attest(rounds, m1, [1, 1], null))
          .to.emit(rounds, "RoundAttested").withArgs(1n, 1n, m1.address, ZERO, "", codes)
          .and.to.not.emit(rounds, "RoundFailed");
        const second = attest(rounds, m2, [1, 1], null);
        await expect(second).to.emit(rounds, "RoundFailed").withArgs(1n, 1n, m2.address, codes);
        await expect(second).to.emit(rounds, "RoundOpened")
          .withArgs(1n, 2n, (d) => d > 0n, INITIAL_DIGEST, (s) => s !== ZERO);
        const task = await rounds.getTask(1n);
        expect([task.round, task.modelDigest]).to.deep.equal([2n, INITIAL_DIGEST]);
      });

    it("a failure attestation and a finalization of the same reasons are different outcomes", async function () {
      const { rounds, m1, m2, m3 } = await loadFixture(withCommitteeRound);
      await submit(rounds, (await ethers.getSigners())[2]); // alice only: below quorum
      await time.increaseTo((await rounds.getTask(1n)).deadline);
      await attest(rounds, m1, [0], null);
      await expect(attest(rounds, m2, [0], "g")) // one included, quorum 2: not a finalization
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumNotMet").withArgs(1n, 1n, 1n, 2n);
      await expect(attest(rounds, m3, [0], null)).to.emit(rounds, "RoundFailed").withArgs(1n, 1n, m3.address, reasons(0));
    });

    it("refuses a failure attestation while quorum valid updates stand inside the grace period", async function () {
      const { rounds, m1 } = await loadFixture(withQuorumPastDeadline);
      await expect(attest(rounds, m1, [0, 0], null))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsEnoughValid").withArgs(1n, 1n, 2n, 2n);
      await expect(attest(rounds, m1, [0, 12], null)) // an outlier counts as valid
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsEnoughValid").withArgs(1n, 1n, 2n, 2n);
    });

    it("accepts a failure attestation of valid updates once the grace period is over", async function () {
      const { rounds, m1, deadline } = await loadFixture(withQuorumPastDeadline);
      await time.increaseTo(deadline + GRACE);
      await expect(attest(rounds, m1, [0, 0], null)).to.emit(rounds, "RoundAttested");
    });

    it("refuses a failure attestation with a CID, and one before the deadline", async function () {
      const { rounds, alice, m1, deadline } = await loadFixture(withCommitteeRound);
      await submit(rounds, alice);
      await expect(rounds.connect(m1).attestRound(1n, 1n, ZERO, GLOBAL_CID, reasons(1)))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("globalCid");
      await expect(attest(rounds, m1, [1], null))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, deadline);
    });

    it("refuses a second attestation by the same member, whatever it says", async function () {
      const { rounds, m1 } = await loadFixture(withAllIn);
      await attest(rounds, m1, [0, 0, 0]);
      for (const [codes, label] of [[[0, 0, 0], "g"], [[0, 0, 1], "other"]]) {
        await expect(attest(rounds, m1, codes, label))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadyAttested").withArgs(1n, 1n, m1.address);
      }
    });

    it("refuses non-members, the aggregator included, and tasks without a committee", async function () {
      const { rounds, agg, stranger, alice, m1 } = await loadFixture(withAllIn);
      for (const who of [stranger, agg]) {
        await expect(attest(rounds, who, [0, 0, 0]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotCommitteeMember").withArgs(1n, who.address);
      }
      await rounds.createTask(...createArgs(agg.address));
      await rounds.addParticipant(2n, alice.address, 0n);
      await rounds.openRound(2n);
      await expect(rounds.connect(m1).attestRound(2n, 1n, digest("g"), GLOBAL_CID, reasons()))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNoCommittee").withArgs(2n);
      await expect(rounds.connect(m1).attestRound(7n, 1n, digest("g"), GLOBAL_CID, reasons()))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(7n);
    });

    it("after setCommittee mid-round, a removed member is refused and its attestation no longer counts",
      async function () {
        const { rounds, m1, m2, m3, m4 } = await loadFixture(withAllIn);
        await attest(rounds, m1, [0, 0, 0]);
        await expect(rounds.setCommittee(1n, [m2.address, m3.address, m4.address], 2))
          .to.emit(rounds, "CommitteeChanged").withArgs(1n, [m2.address, m3.address, m4.address], 2n, 2n);

        await expect(attest(rounds, m1, [0, 0, 0]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotCommitteeMember").withArgs(1n, m1.address);
        await expect(attest(rounds, m2, [0, 0, 0])).to.not.emit(rounds, "RoundFinalized"); // m1's vote is gone
        await expect(attest(rounds, m4, [0, 0, 0])).to.emit(rounds, "RoundFinalized");
      });

    it("a member kept in the new epoch attests again; its old vote does not count twice", async function () {
      const { rounds, m1, m2, m3 } = await loadFixture(withAllIn);
      await attest(rounds, m1, [0, 0, 0]);
      await rounds.setCommittee(1n, [m1.address, m2.address, m3.address], 2); // epoch 2, same members
      await expect(attest(rounds, m2, [0, 0, 0])).to.not.emit(rounds, "RoundFinalized");
      await expect(attest(rounds, m1, [0, 0, 0])).to.emit(rounds, "RoundFinalized");
    });

    it("refuses bad reasons lengths, unknown codes, no included update, an empty CID, too early, the wrong round",
      async function () {
        const { rounds, alice, bob, carol, m1, deadline } = await loadFixture(withCommitteeRound);
        await submit(rounds, alice);
        await submit(rounds, bob);
        await expect(attest(rounds, m1, [0, 0]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, deadline);
        await submit(rounds, carol);

        await expect(attest(rounds, m1, [0, 0]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReasons").withArgs(1n, 1n, 2n, 3n);
        await expect(attest(rounds, m1, [0, 0, 0, 0]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReasons").withArgs(1n, 1n, 4n, 3n);
        await expect(attest(rounds, m1, [0, 0, 14]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownReason").withArgs(1n, 1n);
        await expect(attest(rounds, m1, [0, 1, 1]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumNotMet").withArgs(1n, 1n, 1n, 2n);
        await expect(attest(rounds, m1, [12, 12, 12]))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumNotMet").withArgs(1n, 1n, 3n, 2n);
        await expect(attest(rounds, m1, [0, 0, 0], "g", ""))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("globalCid");
        await expect(attest(rounds, m1, [0, 0, 0], "g", GLOBAL_CID, 2n))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 2n);

        await expect(attest(rounds, m1, [0, 0, 0])).to.emit(rounds, "RoundAttested"); // refusals cost no vote
      });
  });

  describe("a committee task", function () {
    it("refuses finalizeRound (CommitteeTask)", async function () {
      const { rounds, agg } = await loadFixture(withAllIn);
      await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, reasons(0, 0, 0)))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsCommitteeTask").withArgs(1n);
    });

    it("refuses the aggregator's early closeFailedRound inside the grace period", async function () {
      const { rounds, agg } = await loadFixture(withQuorumPastDeadline);
      await expect(rounds.connect(agg).closeFailedRound(1n, 1n, reasons(1, 1)))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumReached").withArgs(1n, 1n, 2n, 2n);
    });

    it("lets anyone close a round after the grace period, and below quorum after the deadline", async function () {
      const { rounds, stranger, deadline } = await loadFixture(withQuorumPastDeadline);
      await time.increaseTo(deadline + GRACE);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 1n, "0x"))
        .to.emit(rounds, "RoundFailed").withArgs(1n, 1n, stranger.address, "0x");

      const opened = (await rounds.getTask(1n)).deadline;
      await time.increaseTo(opened);
      await expect(rounds.connect(stranger).closeFailedRound(1n, 2n, "0x"))
        .to.emit(rounds, "RoundFailed").withArgs(1n, 2n, stranger.address, "0x");
    });
  });

  describe("on a private task", function () {
    it("attestations wait for the phases to close, then finalize as finalizeRound would", async function () {
      const [owner, agg, alice, bob, , , m1, m2] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address));
      for (const p of [alice, bob]) await rounds.addParticipant(1n, p.address, 0n);
      await rounds.configurePrivacy(1n, [2n, 0n, 600n, 600n, 600n, "secagg:clip=1.0,scale_bits=16"]);
      await rounds.setCommittee(1n, [m1.address, m2.address], 2);
      await rounds.connect(owner).openRound(1n);
      const unmaskDeadline = (await rounds.privateView(1n, alice.address)).unmaskDeadline;
      const steps = [
        (p) => rounds.connect(p).advertiseKeys(1n, 1n, ...["e", "m", "s"].map((k) => digest(`${k}${p.address}`))),
        (p) => rounds.connect(p).postShares(1n, 1n, digest(`sh${p.address}`), UPDATE_CID),
        (p) => submit(rounds, p),
      ];
      for (const step of steps) for (const p of [alice, bob]) await step(p);

      await expect(attest(rounds, m1, [0, 0])) // the unmask phase is still open
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, unmaskDeadline);
      for (const p of [alice, bob]) await rounds.connect(p).postUnmask(1n, 1n, digest(`um${p.address}`), UPDATE_CID);

      await expect(attest(rounds, m1, [0, 0])).to.not.emit(rounds, "RoundFinalized");
      await expect(attest(rounds, m2, [0, 0])).to.emit(rounds, "RoundFinalized")
        .withArgs(1n, 1n, digest("g"), GLOBAL_CID, ethers.keccak256(reasons(0, 0)), 2n, reasons(0, 0));
      expect((await rounds.privateView(1n, alice.address)).phase).to.equal(1n); // round 2 in its keys phase
    });
  });

  describe("gas", function () {
    /** A task with `n` fresh participants submitted in round 1, aggregated as `mode` says; returns the gas. */
    async function roundGas(rounds, owner, agg, members, wallets, mode) {
      await rounds.createTask(...createArgs(agg.address, { quorum: 1n }));
      const task = await rounds.taskCount();
      const n = wallets.length;
      for (let from = 0; from < n; from += 200) {
        const chunk = wallets.slice(from, from + 200).map((w) => w.address);
        await rounds.addParticipants(task, chunk, Array(chunk.length).fill(0n), { gasLimit: 16_000_000n });
      }
      if (mode.size) await rounds.setCommittee(task, members.slice(0, mode.size).map((m) => m.address), mode.threshold);
      await rounds.openRound(task);
      for (const w of wallets) await submit(rounds, w, task);
      const codes = reasons(...Array(n).fill(0));
      if (!mode.size) {
        return [(await (await rounds.connect(agg).finalizeRound(task, 1n, digest("g"), GLOBAL_CID, codes)).wait())
          .gasUsed];
      }
      const gas = [];
      for (const m of members.slice(0, mode.threshold)) {
        const tx = await rounds.connect(m).attestRound(task, 1n, digest("g"), GLOBAL_CID, codes);
        gas.push((await tx.wait()).gasUsed);
      }
      return gas;
    }

    it("prints attestRound (n = 1) against finalizeRound, and a 3-member committee's gas per round", async function () {
      const [owner, agg, , , , , m1, m2, m3] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      const lines = [];
      for (const n of [10, 100]) {
        const wallets = [];
        for (let i = 0; i < n; i++) {
          const wallet = new ethers.Wallet(ethers.toBeHex(BigInt(n) * 100000n + BigInt(i) + 1n, 32), ethers.provider);
          await networkHelpers.setBalance(wallet.address, 10n ** 18n);
          wallets.push(wallet);
        }
        const members = [m1, m2, m3];
        const [plain] = await roundGas(rounds, owner, agg, members, wallets, {});
        const [single] = await roundGas(rounds, owner, agg, members, wallets, { size: 1, threshold: 1 });
        const twoOfThree = await roundGas(rounds, owner, agg, members, wallets, { size: 3, threshold: 2 });
        const threeOfThree = await roundGas(rounds, owner, agg, members, wallets, { size: 3, threshold: 3 });
        const sum = (gas) => gas.reduce((a, b) => a + b, 0n);
        lines.push(`${n} submissions: finalizeRound ${plain}, attestRound 1-of-1 ${single} (+${single - plain}), `
          + `2-of-3 ${twoOfThree.join(" + ")} = ${sum(twoOfThree)}, 3-of-3 ${threeOfThree.join(" + ")} = `
          + `${sum(threeOfThree)}`);
        console.log(`      gas: ${lines.at(-1)}`);

        // A lone member pays finalizeRound plus its bookkeeping: two fresh slots and the RoundAttested log.
        expect(single).to.be.greaterThan(plain);
        expect(single - plain).to.be.lessThan(75_000n);
        // Attestations that do not close the round open none, so they cost less than the closing one; each
        // attestation of a round adds under 75,000 to the one finalizeRound it replaces.
        expect(twoOfThree[0]).to.be.lessThan(twoOfThree[1]);
        expect(threeOfThree[1]).to.be.lessThan(threeOfThree[2]);
        expect(sum(twoOfThree)).to.be.lessThan(plain + 2n * 75_000n);
        expect(sum(threeOfThree)).to.be.lessThan(plain + 3n * 75_000n);
      }
    });
  });
});
