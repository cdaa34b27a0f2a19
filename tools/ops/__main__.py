"""``python -m tools.ops``: the operator CLI (``shipment-ops``)."""

import sys

from tools.ops.cli import main

sys.exit(main())
