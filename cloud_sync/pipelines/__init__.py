"""What the cloud trains: the pipeline kinds the job engine (:mod:`cloud_sync.training`) runs.

Each module registers its kind when imported (the ``siteguard.training_kinds``
entry points name them): ``risk`` trains the sensor risk model from the
synced alarms, verdicts and readings, ``camera`` fine-tunes the camera
detector on the hard examples people labelled (docs/trainer.md).
"""
