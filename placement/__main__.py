"""``python -m placement``: see :mod:`placement.cli`."""

from .cli import main

raise SystemExit(main())
