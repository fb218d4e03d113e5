"""Model updates on the device: the update agent and the seam to the places models run.

Modules, one job each: ``slots`` (the ModelSlot seam the camera supervisor and
the risk scorer implement), ``client`` (signed rollout requests), ``download``
(resumable, capped package download), ``verify`` (unpack and verify a
package), ``compat`` (runtime, version and memory checks), ``state``
(SQLite: installs, active/previous, refusals, events, boots), ``watch``
(the rollback policy's decisions), ``slot_updater`` (one slot's install,
shadow, switch, watch and rollback), ``report`` (the periodic report),
``threads`` (the agent's worker threads) and ``agent`` (the whole, as the
daemon drives it). Nothing is imported here, so the seam (``slots``) stays
light for the slots that import it.
"""
