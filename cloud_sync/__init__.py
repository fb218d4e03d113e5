"""SiteGuard's cloud side and the wire contract it shares with the edge.

``contract`` (records, batches, request signatures) is the only part the edge
imports; everything else here runs in the cloud service.
"""
