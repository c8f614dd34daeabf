"""Fleet mode (issue 9): many VM images → a store of members → inventories, plans, stacks, a report.

- ``store``: fleet.db (SQLite, WAL, versioned schema) and the per-VM folders beside it;
- ``sources``: images found by content under directories and globs, manifest CSVs, RVTools exports;
- ``fingerprint``: cheap content fingerprints, so reruns skip unchanged images;
- ``engine`` / ``worker``: inspection on Dask distributed, one isolated child process per image.

docs/fleet.md explains how the parts fit and why Dask.
"""
