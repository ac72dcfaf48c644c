"""NAFNet known-blur (camera-shake) deblurrer (see model.py)."""
