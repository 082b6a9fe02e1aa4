"""``python -m inspector <verb>``: the headless face of the core."""

import sys

from inspector.cli import main

sys.exit(main())
