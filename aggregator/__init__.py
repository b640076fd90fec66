"""The aggregator side of fedledger: the round coordinator (``aggregator.coordinator``).

It reads a round from chain events, fetches its updates (``fedledger.fetching``), applies the rules that decide a
round (``fedledger.rules``: validation, judge, aggregation strategies, which the auditor applies too) and commits
the outcome. Imports ``fedledger``; never ``fl_node``, the CLI or torch.
"""
