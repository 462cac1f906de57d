"""``python -m fastmlp``: the ``fastmlp`` command."""
import sys

from .cli import main

sys.exit(main())
