// Contract tests for commit-reveal submissions (issue 18): configureCommitReveal, commitUpdate, revealUpdate, and how
// the reveal window moves finalizeRound and closeFailedRound. Run with `npx hardhat test mocha`.
import { expect } from "chai";
import { network } from "hardhat";
import {
  DURATION, GRACE, QUORUM, MIB64, digest, INITIAL_DIGEST, INITIAL_CID, UPDATE_CID, GLOBAL_CID, reasons, createArgs,
} from "./common.js";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const REVEAL = 900n;
const coder = ethers.AbiCoder.defaultAbiCoder();
/** The commitment the contract checks: keccak256(abi.encode(digest, participant, salt)). */
const commitmentOf = (d, account, salt) =>
  ethers.keccak256(coder.encode(["bytes32", "address", "bytes32"], [d, account, salt]));
const updateOf = (signer) => digest(`update:${signer.address}`);
const saltOf = (signer) => digest(`salt:${signer.address}`);

/** Task 1 (quorum 2; alice, bob, carol allowlisted) registering updates by commit and reveal, round 1 open. */
async function withRound() {
  const [owner, agg, alice, bob, carol, stranger, dave] = await ethers.getSigners();
  const rounds = await ethers.deployContract("FederatedRounds");
  await rounds.createTask(...createArgs(agg.address));
  for (const p of [alice, bob, carol]) await rounds.addParticipant(1n, p.address, 0n);
  await rounds.configureCommitReveal(1n, REVEAL);
  const start = BigInt(await time.latest()) + 10n;
  await time.setNextBlockTimestamp(start);
  await rounds.openRound(1n);
  const deadline = start + DURATION;
  return { rounds, owner, agg, alice, bob, carol, stranger, dave, deadline, revealEnd: deadline + REVEAL };
}

const commit = (rounds, signer, round = 1n) =>
  rounds.connect(signer).commitUpdate(1n, round, commitmentOf(updateOf(signer), signer.address, saltOf(signer)));
const reveal = (rounds, signer, round = 1n) =>
  rounds.connect(signer).revealUpdate(1n, round, updateOf(signer), UPDATE_CID, 100n, saltOf(signer));

describe("FederatedRounds commit-reveal", function () {
  describe("configureCommitReveal", function () {
    async function deploy() {
      const [owner, agg, alice, stranger] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address));
      return { rounds, owner, agg, alice, stranger };
    }

    it("emits TaskCommitRevealConfigured and makes a private configuration impossible", async function () {
      const { rounds } = await loadFixture(deploy);
      await expect(rounds.configureCommitReveal(1n, REVEAL))
        .to.emit(rounds, "TaskCommitRevealConfigured").withArgs(1n, REVEAL);
      await expect(rounds.configurePrivacy(1n, [1n, 0n, 60n, 60n, 60n, "secagg:clip=1.0,scale_bits=16"]))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsCommitRevealTask").withArgs(1n);
    });

    it("rejects anyone but the owner, unknown tasks, a second call and an open round", async function () {
      const { rounds, agg, stranger } = await loadFixture(deploy);
      for (const who of [agg, stranger]) {
        await expect(rounds.connect(who).configureCommitReveal(1n, REVEAL))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotOwner").withArgs(1n, who.address);
      }
      await expect(rounds.configureCommitReveal(4n, REVEAL))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(4n);
      await rounds.configureCommitReveal(1n, REVEAL);
      await expect(rounds.configureCommitReveal(1n, REVEAL))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsCommitRevealTask").withArgs(1n);

      await rounds.createTask(...createArgs(agg.address));
      await rounds.openRound(2n);
      await expect(rounds.configureCommitReveal(2n, REVEAL))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundAlreadyOpen").withArgs(2n, 1n);
    });

    it("rejects a private task (privacy) and revealPeriod 0 or 2^32 (revealPeriod)", async function () {
      const { rounds } = await loadFixture(deploy);
      for (const period of [0n, 2n ** 32n]) {
        await expect(rounds.configureCommitReveal(1n, period))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("revealPeriod");
      }
      await expect(rounds.configureCommitReveal(1n, 2n ** 32n - 1n)).to.emit(rounds, "TaskCommitRevealConfigured");

      const [, agg] = await ethers.getSigners();
      await rounds.createTask(...createArgs(agg.address));
      await rounds.configurePrivacy(2n, [1n, 0n, 60n, 60n, 60n, "secagg:clip=1.0,scale_bits=16"]);
      await expect(rounds.configureCommitReveal(2n, REVEAL))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("privacy");
    });
  });

  describe("a round", function () {
    it("commits, then at the deadline reveals with UpdateSubmitted then UpdateRevealed, then finalizes",
      async function () {
        const { rounds, agg, alice, bob, deadline } = await loadFixture(withRound);
        const c = commitmentOf(updateOf(alice), alice.address, saltOf(alice));
        await expect(commit(rounds, alice)).to.emit(rounds, "UpdateCommitted").withArgs(1n, 1n, alice.address, c);
        await commit(rounds, bob);
        expect((await rounds.getTask(1n)).submissions).to.equal(0n); // a commitment is not a submission

        await time.increaseTo(deadline);
        const tx = await reveal(rounds, alice);
        await expect(tx).to.emit(rounds, "UpdateSubmitted")
          .withArgs(1n, 1n, alice.address, updateOf(alice), UPDATE_CID, 100n);
        await expect(tx).to.emit(rounds, "UpdateRevealed").withArgs(1n, 1n, alice.address, saltOf(alice));
        const names = (await tx.wait()).logs.map((log) => rounds.interface.parseLog(log).name);
        expect(names).to.deep.equal(["UpdateSubmitted", "UpdateRevealed"]);
        expect(await rounds.hasSubmitted(1n, 1n, alice.address)).to.equal(true);

        await reveal(rounds, bob); // everyone who committed revealed: no need to wait for revealEnd
        await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, reasons(0, 0)))
          .to.emit(rounds, "RoundFinalized");
      });

    it("refuses submitUpdate (CommitRevealTask); a plain task refuses commit and reveal (NotCommitReveal)",
      async function () {
        const { rounds, agg, alice } = await loadFixture(withRound);
        await expect(rounds.connect(alice).submitUpdate(1n, 1n, updateOf(alice), UPDATE_CID, 100n))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsCommitRevealTask").withArgs(1n);

        await rounds.createTask(...createArgs(agg.address));
        await rounds.addParticipant(2n, alice.address, 0n);
        await rounds.openRound(2n);
        await expect(rounds.connect(alice).commitUpdate(2n, 1n, digest("c")))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotCommitReveal").withArgs(2n);
        await expect(rounds.connect(alice).revealUpdate(2n, 1n, updateOf(alice), UPDATE_CID, 1n, saltOf(alice)))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotCommitReveal").withArgs(2n);
      });

    it("commitUpdate refuses strangers, a second commitment, a zero one and the wrong round", async function () {
      const { rounds, alice, stranger } = await loadFixture(withRound);
      await expect(commit(rounds, stranger))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotParticipant").withArgs(1n, stranger.address);
      await expect(rounds.connect(alice).commitUpdate(1n, 1n, ethers.ZeroHash))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsInvalidParameter").withArgs("commitment");
      await expect(commit(rounds, alice, 2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsWrongRound").withArgs(1n, 1n, 2n);
      await commit(rounds, alice);
      await expect(rounds.connect(alice).commitUpdate(1n, 1n, digest("second thoughts")))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadyCommitted").withArgs(1n, 1n, alice.address);
    });

    it("refuses a commitment from the deadline on (NotCommitting)", async function () {
      const { rounds, alice, deadline } = await loadFixture(withRound);
      await time.increaseTo(deadline);
      await expect(commit(rounds, alice))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotCommitting").withArgs(1n, 1n);
    });

    it("refuses a reveal before the window, at revealEnd, twice, or that does not open the commitment",
      async function () {
        const { rounds, alice, bob, carol, deadline, revealEnd } = await loadFixture(withRound);
        await commit(rounds, alice);
        await commit(rounds, bob);
        await expect(reveal(rounds, alice))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotRevealing").withArgs(1n, 1n, revealEnd);

        await time.increaseTo(deadline);
        const wrong = [
          [updateOf(bob), saltOf(alice)], // another digest
          [updateOf(alice), saltOf(bob)], // another salt
        ];
        for (const [d, salt] of wrong) {
          await expect(rounds.connect(alice).revealUpdate(1n, 1n, d, UPDATE_CID, 100n, salt))
            .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReveal").withArgs(1n, 1n, alice.address);
        }
        await expect(reveal(rounds, carol)) // never committed
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReveal").withArgs(1n, 1n, carol.address);
        await reveal(rounds, alice);
        await expect(reveal(rounds, alice))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsAlreadySubmitted").withArgs(1n, 1n, alice.address);

        await time.setNextBlockTimestamp(revealEnd);
        await expect(reveal(rounds, bob))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotRevealing").withArgs(1n, 1n, revealEnd);
      });

    it("the copy attack: Mallory can neither reuse Alice's commitment nor commit once Alice's digest is public",
      async function () {
        const { rounds, alice, bob, carol: mallory, deadline } = await loadFixture(withRound);
        await commit(rounds, alice);
        const [event] = await rounds.queryFilter(rounds.filters.UpdateCommitted(1n, 1n, alice.address));
        const aliceCommitment = event.args.commitment;
        // All Mallory sees before the deadline is the commitment; she commits the very same bytes.
        await rounds.connect(mallory).commitUpdate(1n, 1n, aliceCommitment);
        await commit(rounds, bob);

        await time.increaseTo(deadline);
        await reveal(rounds, alice); // Alice's digest and salt are public from here on
        await expect(rounds.connect(mallory).revealUpdate(1n, 1n, updateOf(alice), UPDATE_CID, 100n, saltOf(alice)))
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReveal").withArgs(1n, 1n, mallory.address);
        const fresh = commitmentOf(updateOf(alice), mallory.address, saltOf(mallory));
        await expect(rounds.connect(bob).commitUpdate(1n, 1n, fresh)) // nobody commits in the reveal window
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotCommitting").withArgs(1n, 1n);
      });

    it("a late joiner cannot commit to a revealed digest once everyone expected committed", async function () {
      const { rounds, alice, bob, carol, dave } = await loadFixture(withRound);
      for (const p of [alice, bob, carol]) await commit(rounds, p);
      await reveal(rounds, alice); // before the deadline: the window opened early
      await rounds.addParticipant(1n, dave.address, 0n);
      await expect(rounds.connect(dave).commitUpdate(1n, 1n, commitmentOf(updateOf(alice), dave.address, saltOf(dave))))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsNotCommitting").withArgs(1n, 1n);
    });

    it("opens the reveal window before the deadline once everyone committed, and finalizes once all revealed",
      async function () {
        const { rounds, agg, alice, bob, carol, deadline } = await loadFixture(withRound);
        for (const p of [alice, bob]) await commit(rounds, p);
        await expect(reveal(rounds, alice)).to.be.revertedWithCustomError(rounds, "FederatedRoundsNotRevealing");
        await commit(rounds, carol);

        for (const p of [alice, bob]) await reveal(rounds, p);
        const final = () => rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, reasons(0, 0));
        await expect(final()) // carol committed and has not revealed
          .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, deadline + REVEAL);
        await reveal(rounds, carol);
        expect(BigInt(await time.latest())).to.be.lessThan(deadline);
        await expect(rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, reasons(0, 0, 0)))
          .to.emit(rounds, "RoundFinalized");
      });

    it("with a commitment left unrevealed, finalizes at revealEnd and not before", async function () {
      const { rounds, agg, alice, bob, carol, deadline, revealEnd } = await loadFixture(withRound);
      for (const p of [alice, bob, carol]) await commit(rounds, p);
      for (const p of [alice, bob]) await reveal(rounds, p);
      const final = () => rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, reasons(0, 0));

      await time.increaseTo(deadline);
      await expect(final())
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, revealEnd);
      await time.setNextBlockTimestamp(revealEnd - 1n);
      await expect(final())
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, revealEnd);
      await time.setNextBlockTimestamp(revealEnd);
      await expect(final()).to.emit(rounds, "RoundFinalized");
    });

    it("closeFailedRound waits for revealEnd, and the grace period runs from it", async function () {
      const { rounds, alice, bob, stranger, deadline, revealEnd } = await loadFixture(withRound);
      for (const p of [alice, bob]) await commit(rounds, p);
      await time.increaseTo(deadline);
      await reveal(rounds, alice); // below quorum so far
      const close = (round = 1n) => rounds.connect(stranger).closeFailedRound(1n, round, "0x");

      await expect(close())
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, revealEnd);
      await reveal(rounds, bob); // quorum: only the grace period's end lets a stranger close it
      await time.setNextBlockTimestamp(revealEnd);
      await expect(close()).to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumReached").withArgs(1n, 1n, 2n, 2n);
      await time.setNextBlockTimestamp(revealEnd + GRACE - 1n);
      await expect(close()).to.be.revertedWithCustomError(rounds, "FederatedRoundsQuorumReached");
      await time.setNextBlockTimestamp(revealEnd + GRACE);
      await expect(close()).to.emit(rounds, "RoundFailed").withArgs(1n, 1n, stranger.address, "0x");

      // Round 2, nobody commits: below quorum, it fails at its revealEnd and not at its deadline.
      const next = (await rounds.getTask(1n)).deadline;
      await time.increaseTo(next);
      await expect(close(2n))
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 2n, next + REVEAL);
      await time.setNextBlockTimestamp(next + REVEAL);
      await expect(close(2n)).to.emit(rounds, "RoundFailed");
    });

    it("the aggregator may fail a round with quorum but too few valid reveals only from revealEnd", async function () {
      const { rounds, agg, alice, bob, carol, revealEnd } = await loadFixture(withRound);
      for (const p of [alice, bob, carol]) await commit(rounds, p);
      for (const p of [alice, bob]) await reveal(rounds, p);
      const fail = () => rounds.connect(agg).closeFailedRound(1n, 1n, reasons(1, 1));
      await expect(fail())
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsRoundStillRunning").withArgs(1n, 1n, revealEnd);
      await time.setNextBlockTimestamp(revealEnd);
      await expect(fail()).to.emit(rounds, "RoundFailed").withArgs(1n, 1n, agg.address, reasons(1, 1));
    });

    it("a new round resets the commitments: round 2 takes fresh commits from everyone", async function () {
      const { rounds, agg, alice, bob, carol } = await loadFixture(withRound);
      for (const p of [alice, bob, carol]) await commit(rounds, p);
      for (const p of [alice, bob, carol]) await reveal(rounds, p);
      await rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, reasons(0, 0, 0));

      await expect(reveal(rounds, alice, 2n)) // the round-1 commitment does not carry over
        .to.be.revertedWithCustomError(rounds, "FederatedRoundsBadReveal").withArgs(1n, 2n, alice.address);
      for (const p of [alice, bob, carol]) await expect(commit(rounds, p, 2n)).to.emit(rounds, "UpdateCommitted");
      await expect(reveal(rounds, alice, 2n)).to.emit(rounds, "UpdateRevealed");
    });
  });

  describe("gas", function () {
    it("prints commitUpdate + revealUpdate against submitUpdate, rounds 1 and 2", async function () {
      const { rounds, agg, alice, bob, carol } = await loadFixture(withRound);
      await rounds.createTask(...createArgs(agg.address));
      for (const p of [alice, bob, carol]) await rounds.addParticipant(2n, p.address, 0n);
      await rounds.openRound(2n);
      const gasOf = async (tx) => (await (await tx).wait()).gasUsed;
      const lines = [];
      for (const round of [1n, 2n]) {
        const commits = [];
        const reveals = [];
        const submits = [];
        for (const p of [alice, bob, carol]) commits.push(await gasOf(commit(rounds, p, round)));
        for (const p of [alice, bob, carol]) reveals.push(await gasOf(reveal(rounds, p, round)));
        for (const p of [alice, bob, carol]) {
          submits.push(await gasOf(rounds.connect(p).submitUpdate(2n, round, updateOf(p), UPDATE_CID, 100n)));
        }
        lines.push(`round ${round}: commitUpdate ${commits.join("/")}, revealUpdate ${reveals.join("/")}, `
          + `submitUpdate ${submits.join("/")}`);
        console.log(`      gas (alice/bob/carol): ${lines.at(-1)}`);
        for (let i = 0; i < 3; i++) {
          expect(commits[i]).to.be.lessThan(65_000n); // 60.5k in round 1 (a fresh slot), 40.6k after
          expect(reveals[i] - submits[i]).to.be.lessThan(15_000n);
        }
        await rounds.connect(agg).finalizeRound(1n, round, digest("g"), GLOBAL_CID, reasons(0, 0, 0));
        await rounds.connect(agg).finalizeRound(2n, round, digest("g"), GLOBAL_CID, reasons(0, 0, 0));
      }
    });
  });
});
