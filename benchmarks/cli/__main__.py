"""``python -m benchmarks.cli``: the ``bench`` command."""
import sys

from benchmarks.cli import main

sys.exit(main())
