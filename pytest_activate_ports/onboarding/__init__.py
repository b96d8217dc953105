"""The commands a new user starts with: ``activate-ports init`` (a starter spec) and ``plan`` (what would run, no traffic)."""
