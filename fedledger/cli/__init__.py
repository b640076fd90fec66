"""The `fedledger` command line: one module per command group; ``app`` only registers them."""
