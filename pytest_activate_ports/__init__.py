"""pytest-activate-ports: network acceptance tests for self-hosted ACTIVATE, one pytest item per port."""
