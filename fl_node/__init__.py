"""The participant side of fedledger: data partitions, the model, local training, evaluation and submission.

Imports ``fedledger`` and torch; never ``aggregator``. Submodules are imported on use, so that
``fl_node.submit`` (registering an existing update file) works without torch installed.
"""
