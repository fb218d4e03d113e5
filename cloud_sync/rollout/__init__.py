"""Model rollout (#12, the cloud half): which version each device should run, canaries and promotion,
the fleet-wide halt on a device's rollback, and the package downloads and reports of the device endpoints.

- :mod:`.tables`: rollouts, their targets, their append-only events, pins, the latest device reports;
- :mod:`.selectors`, :mod:`.canary`, :mod:`.artifacts`: which devices, which canaries, which artifact;
- :mod:`.pins`, :mod:`.rollouts`: pinned versions; rollouts and their state changes (:mod:`.states`);
- :mod:`.desired`: a device's :class:`~cloud_sync.contract.rollout.DesiredState`;
- :mod:`.reports`: device reports, halting and automatic promotion;
- :mod:`.archives`: the deterministic package archives devices download;
- :mod:`.service`, :mod:`.api`, :mod:`.device_routes`: the parts on the service, the admin and device routes;
- :mod:`.client`, :mod:`.cli`: ``siteguard cloud rollout|pin`` over the admin API.
"""
