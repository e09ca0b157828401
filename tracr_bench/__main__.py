"""``python -m tracr_bench ...`` = ``tracr-bench ...`` (for ``torchrun -m`` and
``accelerate launch -m``)."""

import sys

from tracr_bench.cli import main

sys.exit(main())
