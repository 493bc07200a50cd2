"""``python -m zmqcast`` runs the CLI."""

from zmqcast.cli import main

main()
