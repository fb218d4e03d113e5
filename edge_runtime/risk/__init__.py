"""The risk model on the edge: every alarm scored by the active risk model, off the alarm path.

The score ranks alarms and goes to the cloud with them (what the next model
learns from, with the supervisors' verdicts); it never quietens an alarm.
The scorer is also the update agent's ``risk`` slot (edge_runtime.updates).
"""
