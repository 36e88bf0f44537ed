"""``python -m reconbench`` runs the command-line interface."""

from reconbench.cli import main

raise SystemExit(main())
