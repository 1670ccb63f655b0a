"""``python -m llamonitor``: the ``llamonitor`` command where its script is not on ``PATH``."""

from llamonitor.cli.main import main

raise SystemExit(main())
