"""Root of the project's own test run: the plugins every test area of ``tests/`` needs.

pytester drives the plugin through inner pytest runs in every area. Declared
here (pytest's place for a suite's plugins) instead of ``-p pytester`` in
``addopts``, so the ini keeps only settings, and running one test file, or the
suite with other ``addopts`` (``-o addopts=...``), still loads it.
"""

pytest_plugins = ["pytester"]
