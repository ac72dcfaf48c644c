"""The training engine shared by recipes.

trainer.py (YAML keys, ``run``), recipe.py (the ``Recipe`` / ``Phase`` / ``StepContext`` API),
loop.py (the training loop), config.py (strict YAML), runstate.py (run dir, state.pt,
checkpoints), logs.py (metrics.csv, TensorBoard), validation.py (PSNR/SSIM, image grids), ema.py,
distributed.py (torchrun / DDP) and the losses.
"""
