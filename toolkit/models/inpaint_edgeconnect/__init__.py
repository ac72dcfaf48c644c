"""EdgeConnect edge-guided inpainting (see model.py)."""
