"""The prober: the network adapter half, standard library only, shippable to any Python >= 3.10.

It takes jobs (key, target, probe kind and options as plain data) and
streams back attempts, in the vocabulary of :mod:`..results`. Nothing here
imports pytest, PyYAML, trustme or the spec: :mod:`..ship` sends these
modules as source to a vantage that has only a Python, and
``tests/test_prober_process.py`` proves they run there (``python -I -S``).

- :mod:`.resolve`, :mod:`.reactor`, :mod:`.dial`: names to addresses, one
  selector loop, non-blocking connects;
- :mod:`.speaker`: protocol probes on the connections that opened;
- :mod:`.engine`: jobs to attempts, bounded globally and per host;
- :mod:`.transport`: jobs, attempts and TLS settings as plain data;
- :mod:`.serve`: the loop a prober process runs on its channel;
- :mod:`.probes`: one module per probe kind.
"""
