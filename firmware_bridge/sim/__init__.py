"""Device emulators on pseudo-terminals: the Modbus slave, the siren controller, the ptys.

They know nothing of the daemon or the site file; the scenario-driven site
simulation that uses them is :mod:`edge_runtime.sim`.
"""
