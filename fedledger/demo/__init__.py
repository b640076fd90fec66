"""The zero-setup demo (``fedledger demo``): a whole federation in one process on the embedded default."""
