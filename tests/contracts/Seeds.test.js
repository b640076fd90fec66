// Contract tests for sampled rounds' seeds (issue 18): drawn at first use from the hash of the block the round opened
// in (RoundSeeded), never from a hash the opener knew. Run with `npx hardhat test mocha`.
import { expect } from "chai";
import { network } from "hardhat";

const { ethers, networkHelpers } = await network.create();
const { loadFixture, mine } = networkHelpers;

const MIB64 = 64n * 1024n * 1024n;
const digest = (label) => ethers.sha256(ethers.toUtf8Bytes(label));
const INITIAL_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
const UPDATE_CID = "bafkreidivzimqfqtoqxkrpge6bjyhlvxqs3rhe73owtmdulaxr5do5in7u";
const GLOBAL_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
const ZERO = ethers.ZeroHash;
const coder = ethers.AbiCoder.defaultAbiCoder();
/** A task sampling `clients` participants a round (0: a plain task); quorum 2. */
const createArgs = (agg, clients) =>
  [agg, digest("initial model"), INITIAL_CID, 2n, 3600n, "fedavg", [0n, MIB64, 600n, clients]];
/** The seed the contract draws from block `number`: keccak256(abi.encode(blockhash, taskId, round)). */
async function seedFrom(number, taskId = 1n, round = 1n) {
  const block = await ethers.provider.getBlock(Number(number));
  return ethers.keccak256(coder.encode(["bytes32", "uint256", "uint64"], [block.hash, taskId, round]));
}

/** Task 1 sampling 2 of alice, bob, carol, round 1 opened; returns the opening block's number. */
async function withSampledRound() {
  const [owner, agg, alice, bob, carol, stranger] = await ethers.getSigners();
  const rounds = await ethers.deployContract("FederatedRounds");
  await rounds.createTask(...createArgs(agg.address, 2n));
  for (const p of [alice, bob, carol]) await rounds.addParticipant(1n, p.address, 0n);
  const receipt = await (await rounds.openRound(1n)).wait();
  return { rounds, owner, agg, alice, bob, carol, stranger, openBlock: BigInt(receipt.blockNumber), receipt };
}

const submit = (rounds, signer, round = 1n) =>
  rounds.connect(signer).submitUpdate(1n, round, digest(`u:${signer.address}:${round}`), UPDATE_CID, 100n);

describe("FederatedRounds seeds of sampled rounds", function () {
  it("a sampled round opens with seed zero and roundSeed names the opening block", async function () {
    const { rounds, receipt, openBlock } = await loadFixture(withSampledRound);
    const opened = rounds.interface.parseLog(receipt.logs[0]);
    expect([opened.name, opened.args.round, opened.args.seed]).to.deep.equal(["RoundOpened", 1n, ZERO]);
    expect([...(await rounds.roundSeed(1n))]).to.deep.equal([1n, openBlock, ZERO]);
  });

  it("the first submission draws the seed from the opening block's hash; later ones do not", async function () {
    const { rounds, alice, bob, openBlock } = await loadFixture(withSampledRound);
    const seed = await seedFrom(openBlock);

    const first = submit(rounds, alice);
    await expect(first).to.emit(rounds, "RoundSeeded").withArgs(1n, 1n, openBlock, seed);
    const names = (await (await first).wait()).logs.map((log) => rounds.interface.parseLog(log).name);
    expect(names).to.deep.equal(["RoundSeeded", "UpdateSubmitted"]);
    expect([...(await rounds.roundSeed(1n))]).to.deep.equal([1n, openBlock, seed]);

    await expect(submit(rounds, bob)).to.not.emit(rounds, "RoundSeeded");
    expect((await rounds.roundSeed(1n)).seed).to.equal(seed);
  });

  it("anyone may draw it with drawSeed, once (SeedDrawn); a submission then draws nothing", async function () {
    const { rounds, alice, stranger, openBlock } = await loadFixture(withSampledRound);
    await expect(rounds.connect(stranger).drawSeed(1n))
      .to.emit(rounds, "RoundSeeded").withArgs(1n, 1n, openBlock, await seedFrom(openBlock));
    await expect(rounds.connect(alice).drawSeed(1n))
      .to.be.revertedWithCustomError(rounds, "FederatedRoundsSeedDrawn").withArgs(1n, 1n);
    await expect(submit(rounds, alice)).to.not.emit(rounds, "RoundSeeded");
  });

  it("refuses drawSeed on a plain task (NotSampled), before the first round, and on unknown tasks", async function () {
    const { rounds, agg } = await loadFixture(withSampledRound);
    await rounds.createTask(...createArgs(agg.address, 0n));
    await rounds.openRound(2n);
    await expect(rounds.drawSeed(2n)).to.be.revertedWithCustomError(rounds, "FederatedRoundsNotSampled").withArgs(2n);
    await rounds.createTask(...createArgs(agg.address, 2n));
    await expect(rounds.drawSeed(3n)).to.be.revertedWithCustomError(rounds, "FederatedRoundsNoOpenRound").withArgs(3n);
    await expect(rounds.drawSeed(9n)).to.be.revertedWithCustomError(rounds, "FederatedRoundsUnknownTask").withArgs(9n);
  });

  it("a plain task's RoundOpened still carries its seed and submissions draw none", async function () {
    const { rounds, agg, alice } = await loadFixture(withSampledRound);
    await rounds.createTask(...createArgs(agg.address, 0n));
    await rounds.addParticipant(2n, alice.address, 0n);
    const receipt = await (await rounds.openRound(2n)).wait();
    const opened = rounds.interface.parseLog(receipt.logs[0]);
    const previous = await ethers.provider.getBlock(receipt.blockNumber - 1);
    expect(opened.args.seed).to.equal(
      ethers.keccak256(coder.encode(["bytes32", "uint256", "uint64"], [previous.hash, 2n, 1n])));
    await expect(rounds.connect(alice).submitUpdate(2n, 1n, digest("u"), UPDATE_CID, 1n))
      .to.not.emit(rounds, "RoundSeeded");
  });

  it("256 blocks on, the opening block's hash still decides the seed", async function () {
    const { rounds, stranger, openBlock } = await loadFixture(withSampledRound);
    await mine(255); // drawSeed is mined in block openBlock + 256, where blockhash(openBlock) is still known
    const tx = await rounds.connect(stranger).drawSeed(1n);
    expect(BigInt((await tx.wait()).blockNumber)).to.equal(openBlock + 256n);
    await expect(tx).to.emit(rounds, "RoundSeeded").withArgs(1n, 1n, openBlock, await seedFrom(openBlock));
  });

  it("once the opening block's hash expired, the previous block's decides and seedBlock says so", async function () {
    const { rounds, alice, openBlock } = await loadFixture(withSampledRound);
    await mine(300);
    const tx = await submit(rounds, alice);
    const drawn = BigInt((await tx.wait()).blockNumber);
    expect(drawn).to.equal(openBlock + 301n);
    await expect(tx).to.emit(rounds, "RoundSeeded").withArgs(1n, 1n, drawn - 1n, await seedFrom(drawn - 1n));
    expect([...(await rounds.roundSeed(1n))]).to.deep.equal([1n, drawn - 1n, await seedFrom(drawn - 1n)]);
  });

  it("the boundary: drawn in block openBlock + 257 the fallback applies", async function () {
    const { rounds, stranger, openBlock } = await loadFixture(withSampledRound);
    await mine(256);
    const tx = await rounds.connect(stranger).drawSeed(1n);
    expect(BigInt((await tx.wait()).blockNumber)).to.equal(openBlock + 257n);
    await expect(tx).to.emit(rounds, "RoundSeeded").withArgs(1n, 1n, openBlock + 256n, await seedFrom(openBlock + 256n));
  });

  it("an opener who mines blocks first does not choose the seed: only the opening block's own hash counts",
    async function () {
      const [owner, agg, alice] = await ethers.getSigners();
      const rounds = await ethers.deployContract("FederatedRounds");
      await rounds.createTask(...createArgs(agg.address, 2n));
      await rounds.addParticipant(1n, alice.address, 0n);
      await mine(5); // the opener grinds: every block before its transaction is a hash it knows
      const known = (await ethers.provider.getBlock("latest")).hash;
      const openBlock = BigInt((await (await rounds.openRound(1n)).wait()).blockNumber);

      const tx = await submit(rounds, alice);
      const [event] = await rounds.queryFilter(rounds.filters.RoundSeeded(1n, 1n));
      expect(event.args.seedBlock).to.equal(openBlock);
      expect(event.args.seed).to.equal(await seedFrom(openBlock));
      const predictable = ethers.keccak256(coder.encode(["bytes32", "uint256", "uint64"], [known, 1n, 1n]));
      expect(event.args.seed).to.not.equal(predictable);
      await expect(tx).to.emit(rounds, "RoundSeeded");
    });

  it("every round gets its own seed: round 2 opens with zero and draws from its own opening block", async function () {
    const { rounds, agg, alice, bob } = await loadFixture(withSampledRound);
    await submit(rounds, alice);
    await submit(rounds, bob); // clientsPerRound 2 submitted: the round may close early
    const tx = await rounds.connect(agg).finalizeRound(1n, 1n, digest("g"), GLOBAL_CID, "0x0000");
    const open2 = BigInt((await tx.wait()).blockNumber);
    await expect(tx).to.emit(rounds, "RoundOpened").withArgs(1n, 2n, (d) => d > 0n, digest("g"), ZERO);
    expect([...(await rounds.roundSeed(1n))]).to.deep.equal([2n, open2, ZERO]);

    await expect(submit(rounds, alice, 2n))
      .to.emit(rounds, "RoundSeeded").withArgs(1n, 2n, open2, await seedFrom(open2, 1n, 2n));
  });

  it("cannot draw in the block the round opened in (SeedNotReady): its hash is not known yet", async function () {
    const [owner, agg, alice] = await ethers.getSigners();
    const rounds = await ethers.deployContract("FederatedRounds");
    await rounds.createTask(...createArgs(agg.address, 2n));
    await rounds.addParticipant(1n, alice.address, 0n);
    await ethers.provider.send("evm_setAutomine", [false]);
    try {
      await rounds.connect(owner).openRound(1n, { gasLimit: 500_000n });
      const draw = await rounds.connect(alice).drawSeed(1n, { gasLimit: 500_000n });
      await mine(1);
      const block = await ethers.provider.getBlock("latest");
      expect(block.transactions.length).to.equal(2);
      await expect(draw).to.be.revertedWithCustomError(rounds, "FederatedRoundsSeedNotReady")
        .withArgs(1n, 1n, BigInt(block.number));
    } finally {
      await ethers.provider.send("evm_setAutomine", [true]);
    }
    await expect(rounds.drawSeed(1n)).to.emit(rounds, "RoundSeeded");
  });
});
