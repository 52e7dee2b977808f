"""`python -m tools.kubesim`: see tools.kubesim.cli."""

from tools.kubesim.cli import main

raise SystemExit(main())
