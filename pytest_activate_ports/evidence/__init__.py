"""Compliance evidence: JUnit properties, the JSON evidence file, the terminal matrix and merged reports."""
