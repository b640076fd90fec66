"""fedledger: auditable federated learning anchored on an Ethereum round contract and IPFS."""

__version__ = "0.1.0"
