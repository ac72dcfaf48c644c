"""camkit: camera-pipeline models from checkpoint to verified phone artifacts."""

__version__ = "0.1.0"
