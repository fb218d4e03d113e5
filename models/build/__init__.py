"""Builds per target profile: from one trained model, every artifact its devices run, each proven on the held-out set.

- :mod:`.targets`: the build profiles (what a Raspberry Pi, a Jetson, an x86
  box gets) and the profile of a registered device;
- :mod:`.check`: the rule an artifact must pass against the float model it
  came from: outputs within tolerance and recall (overall and per class)
  within a margin; the numbers go into the manifest (``Manifest.checks``);
- :mod:`.tensorrt`: a TensorRT engine built here when this machine's GPU and
  TensorRT match a Jetson profile, else the device builds it (``Manifest.device_builds``);
- :mod:`.builder`: the build itself, over a :class:`~.builder.Family` (the
  risk model and the camera detector each give their exporters and their
  evaluation: ``models/risk/build.py``, ``models/camera/build.py``).

A refused artifact is left out with its reason; the other profiles' builds
still ship, and a profile left with nothing it can run is named
(:meth:`.builder.BuildReport.uncovered`) so the pipeline can stop the run.
"""
