"""The sensor risk model: features, labelled examples, preprocessing, candidates, recommendation, gate.

- :mod:`.features`: :data:`FEATURES` and :func:`window_features` of a
  :class:`SensorWindow` (the same numbers on the edge and in the cloud);
- :mod:`.examples`: labelled :class:`Examples` from synced rows, for the
  alarm-real and risk-rising targets;
- :mod:`.pipeline`: :class:`PipelineOptions` and the scikit-learn
  ``Pipeline`` (steps ``impute``, ``scale``, ``select``, ``model``);
- :mod:`.candidates`: stratified cross-validation of the algorithms, with a
  recall-first decision threshold;
- :mod:`.recommend`: the algorithm to ship per target profile, accuracy
  against measured cost;
- :mod:`.gates`: the validation gate against the champion;
- :mod:`.synthetic`: a deterministic generated site for tests and benchmarks.

See ``docs/trainer.md`` for how this part fits the trainer. Only the
features are imported here: the edge computes them with numpy alone and need
not have scikit-learn, which the other modules import.
"""
from .features import FEATURES, WINDOW_S, SensorWindow, window_features

__all__ = ["FEATURES", "WINDOW_S", "SensorWindow", "window_features"]
