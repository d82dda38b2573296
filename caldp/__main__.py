"""``python -m caldp`` is ``caldp-process``."""

import sys

from .cli.process import main

sys.exit(main())
