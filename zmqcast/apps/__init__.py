"""Applications written on the public API (:class:`zmqcast.Node`), read as examples.

- :mod:`zmqcast.apps.chat`: the seed's chat (typed lines, the automatic
  script, generated lines at a rate);
- :mod:`zmqcast.apps.bank`: the bank whose balances snapshots record;
- :mod:`zmqcast.apps.bench`: the benchmark's sender and receiver;
- :mod:`zmqcast.apps.console`: the console all of them print on.

``zmqcast node`` is a :class:`~zmqcast.Node` plus one of these.
"""
