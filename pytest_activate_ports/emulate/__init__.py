"""Protocol-faithful local servers: stand-ins for services Debian lacks, and the emulated ACTIVATE deployment."""
