"""Built-in profiles (``profile: NAME`` loads ``NAME.yaml`` here) and their traceability to the port guide."""
