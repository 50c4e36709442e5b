"""`python -m careledger` runs the CLI."""

from careledger.cli import main

main()
