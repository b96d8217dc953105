"""Protocol probes: one module per protocol, found through :mod:`.registry`."""
