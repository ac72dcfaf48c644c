"""Blur2Blur camera-specific deblurring: translator + known-blur deblurrer (see model.py)."""
