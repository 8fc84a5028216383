"""``python -m evalsuite.lab.bench.power``."""

import sys

from evalsuite.lab.bench.power.cli import main

sys.exit(main())
