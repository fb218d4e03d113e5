"""The wire contract shared by the edge and the cloud: records, tables and lanes, batches, request signatures.

``records`` (one pydantic model per synced table), ``tables`` (drain order and
lanes), ``columns`` and ``batch`` (the columnar zstd body and the receipt),
``signing`` (device credentials and request signatures). Imports nothing of
``edge_runtime``: both sides depend on it, it depends on neither.
"""
