"""``python -m tools.packager [--src lambda_src] [--out build/shipment_processor.zip]``."""

import sys

from tools.packager.lambda_zip import main

sys.exit(main())
