"""``python -m tools.emulator``: the local system's command line (see ``tools.emulator.cli``)."""

import sys

from tools.emulator.cli import main

sys.exit(main())
