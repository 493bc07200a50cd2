"""CurveZMQ security: key files, the ZAP gatekeeper, the admin lane's policy, run keys.

Modules, each with one job (import them directly; this package imports none
of them, so that :mod:`zmqcast.config` can use :mod:`.keys` without a cycle):

- :mod:`.keys`: CURVE key files in pyzmq's certificate format, read safely;
- :mod:`.auth`: the ZAP handler that admits member and admin keys only and
  tells a node which id each connection's key belongs to;
- :mod:`.setup`: a node's keys and an admin client's keys, from a config;
- :mod:`.policy`: who may use the admin lane, and its ``faults``/``workload`` ops;
- :mod:`.run`: throwaway keys for one secure run (``--secure``).

The trust model is in README, "Security".
"""
