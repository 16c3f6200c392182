"""``python -m preimage.train.cli``: the ``preimage`` command."""

import sys

from preimage.train.cli.main import main

sys.exit(main())
