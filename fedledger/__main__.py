"""`python -m fedledger` runs the CLI (the tests use it to run commands as separate processes)."""

from fedledger.cli.app import main

main()
