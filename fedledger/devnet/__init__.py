"""The local devnet: a chain node and an IPFS daemon in the background, plus a deployed round contract.

Works only from a checkout of the fedledger repository (the daemons come from its ``node_modules``).
"""

from fedledger.devnet.manager import DEFAULT_IPFS_PORT, DEFAULT_RPC_PORT, DevnetConfig, down, status, up

__all__ = ["DEFAULT_IPFS_PORT", "DEFAULT_RPC_PORT", "DevnetConfig", "down", "status", "up"]
