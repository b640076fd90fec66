"""The rules that decide a round, for the aggregator (who decides) and the auditor (who re-checks) alike.

``reasons``     every outcome (``included`` or why not) as one enum, with its on-chain byte; what a fetch failure means
``outcomes``    what a round is decided from (``RoundInputs``), the reasons the events alone give, the ``Judgement``
``validation``  the content checks of one update (validate before you average)
``base``        what every aggregation rule shares (``Strategy``, ``Aggregate``)
``strategies``  FedAvg, FedSGD and ``strategy_from_spec``; ``robust``: median, trimmed mean, Krum, Multi-Krum
``exact``       sums in a fixed order, so every machine gets the same bits
``judge``       ``judge_round``: the one function that turns a round into outcomes and a global model

This package must stay pure: numpy, the standard library and the core's plain modules (``codec``, ``records``,
``exceptions``, ``strategy_spec``) only; no web3, no torch, no content store, no I/O. Fetching is the caller's
(``fedledger.fetching``), reading the chain is the caller's (``fedledger.history``, ``fedledger.rounds``). A unit
test (``tests/unit/test_layering.py``) holds it to that.
"""
