"""The simulated site, driven by scenario files: the world, its devices' firmware and its cameras.

It reads the site file (``SiteConfig``) to know what to simulate, so it lives
above both layers; the device-level emulators it drives (pseudo-terminals, the
Modbus slave, the siren controller) are in :mod:`firmware_bridge.sim`, which
knows nothing of the daemon.
"""
