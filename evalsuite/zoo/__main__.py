"""``python -m evalsuite.zoo``."""

import sys

from evalsuite.zoo.cli import main

sys.exit(main())
