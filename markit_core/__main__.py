"""``python -m markit_core``: the command line."""

from markit_core.cli import main

raise SystemExit(main())
