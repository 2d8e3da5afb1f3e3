"""``python -m simulator`` runs the ``fargate-sim`` command line."""

import sys

from simulator.cli import main

sys.exit(main())
