"""``python -m pytest_activate_ports.emulate``: the same as ``activate-ports emulate``."""

from __future__ import annotations

from . import main

raise SystemExit(main())
