"""Fixtures for the protocol probe tests: real local servers, one block per engineer's area."""

from __future__ import annotations

# --- binary-protocol probes (ssh, postgres, mongodb, amqp, mysql, nfs, slurm) ---
