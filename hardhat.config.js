// Hardhat 3: the contract build and the contract tests (`npx hardhat test mocha`, tests in tests/contracts/). The
// devnet is anvil (`fedledger devnet up`), not Hardhat's node.
//
// The compiler is the npm `solc` package (solc-js), so nothing is downloaded. Its version and settings come from
// contracts/solc.json, which tools/compile_contract.py reads too: tests/unit/test_compile_artifact.py checks that
// Hardhat's bytecode equals the Python artifact's. With appendCBOR off no metadata hash is appended, so source paths
// and comments do not reach the bytecode.
import { createRequire } from "node:module";

import { defineConfig } from "hardhat/config";
import hardhatEthers from "@nomicfoundation/hardhat-ethers";
import hardhatEthersChaiMatchers from "@nomicfoundation/hardhat-ethers-chai-matchers";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";

const require = createRequire(import.meta.url);

const SOLC = require("./contracts/solc.json");

// Named for both build profiles: Hardhat derives "production" from a bare config with its own optimizer settings
// and without ours, which would give different bytecode.
const compiler = {
  version: SOLC.version,
  path: require.resolve("solc/soljson.js"),
  settings: SOLC.settings,
};

export default defineConfig({
  plugins: [hardhatEthers, hardhatEthersChaiMatchers, hardhatMocha, hardhatNetworkHelpers],
  solidity: {
    profiles: {
      default: compiler,
      production: compiler,
    },
  },
  paths: {
    sources: "contracts",
    tests: { mocha: "tests/contracts" },
  },
});
