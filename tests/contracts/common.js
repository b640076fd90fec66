// What every contract suite shares: the round's numbers, the CIDs, and the builders of createTask's arguments.
// Imported by the *.test.js files; it defines no tests.
import { ethers } from "ethers";

export const DURATION = 3600n;
export const GRACE = 600n;
export const QUORUM = 2n;
export const STRATEGY = "fedavg";
export const MIB64 = 64n * 1024n * 1024n;
export const ZERO = ethers.ZeroHash;
export const digest = (label) => ethers.sha256(ethers.toUtf8Bytes(label));
export const INITIAL_DIGEST = digest("initial model");
export const INITIAL_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
export const UPDATE_CID = "bafkreidivzimqfqtoqxkrpge6bjyhlvxqs3rhe73owtmdulaxr5do5in7u";
export const GLOBAL_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
/** Limits as the contract takes them: [maxSamples, maxUpdateBytes, gracePeriod, clientsPerRound]. */
export const limits = (over = {}) => [
  over.maxSamples ?? 0n, over.maxUpdateBytes ?? MIB64, over.grace ?? GRACE, over.clients ?? 0n,
];
/** One reason byte per submission (fedledger/inclusion.py): 0 included, else the reason's code. */
export const reasons = (...codes) => ethers.hexlify(new Uint8Array(codes));
/** createTask's arguments for aggregator `agg`, each default overridable (digest, cid, quorum, duration, ...). */
export const createArgs = (agg, over = {}) => [
  agg, over.digest ?? INITIAL_DIGEST, over.cid ?? INITIAL_CID, over.quorum ?? QUORUM, over.duration ?? DURATION,
  over.strategy ?? STRATEGY, limits(over),
];
