"""``python -m reconbench`` runs the command-line interface."""

from reconbench.benchmark.cli import main

raise SystemExit(main())
