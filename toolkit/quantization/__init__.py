"""Calibration sets, NNCF post-training quantization, accuracy-aware fallback."""
