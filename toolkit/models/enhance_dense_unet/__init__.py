"""Dense U-Net perceptual GAN photo enhancer (see model.py)."""
