"""The aggregator side of fedledger: aggregation strategies and update validation, on numpy arrays only.

Imports ``fedledger``; never ``fl_node`` and never torch.
"""

from aggregator.strategies import FedAvg, FedSGD, RunningSum, Strategy, strategy_from_spec
from aggregator.validation import validate_update

__all__ = ["FedAvg", "FedSGD", "RunningSum", "Strategy", "strategy_from_spec", "validate_update"]
