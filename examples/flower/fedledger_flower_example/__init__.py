"""A Flower app (sklearn digits, an MLP, 4+ clients) anchored on-chain with fedledger."""
