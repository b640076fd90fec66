"""A ClientApp whose node 1 registers a digest other than the update it uploads and replies with (a liar).

Imported by the Ray actors of the simulation, so it lives in a module of its own on PYTHONPATH.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fedledger_flower_example.client_app import check, fit
from flwr.clientapp import ClientApp

from fedledger.flower.client import Participant, ledger_mod, register_update

LIAR = 2  # dev account of partition 1


def lying_register(who: Participant, round_: int, digest: bytes, cid: str, num_samples: int) -> Any:
    if who.signer.address == who.ledger.w3.eth.accounts[LIAR]:
        digest = hashlib.sha256(b"not the update I uploaded" + digest).digest()
    return register_update(who, round_, digest, cid, num_samples)


app = ClientApp(mods=[ledger_mod(register=lying_register)])
app.train()(fit)
app.evaluate()(check)
