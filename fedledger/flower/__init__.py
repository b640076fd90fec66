"""Anchor a Flower run on-chain and audit it like any fedledger task (the ``[flower]`` extra).

Client side, ``ledger_mod``: after the user's own train function returns, the update is encoded as canonical
safetensors, uploaded, and registered in the task's open round with the client's own key. Server side,
``Anchored(FedAvg(...), ...)``: every Flower round is one on-chain round; the global model is what fedledger's
deterministic rule makes of what was registered (fetched from the store, checked against the chain), committed
with every submission's outcome. Flower's sampling, configuration, evaluation and metrics keep working.
"""

from fedledger.flower.bridge import EmbeddedChainServer
from fedledger.flower.client import Participant, ledger_mod
from fedledger.flower.server import SUPPORTED, Anchored, flower_spec

__all__ = ["SUPPORTED", "Anchored", "EmbeddedChainServer", "Participant", "flower_spec", "ledger_mod"]
