"""``python -m evalsuite.lab.zoo``."""

import sys

from evalsuite.lab.zoo.cli import main

sys.exit(main())
