"""Image IO, datasets (paired, unpaired, masks) and synthetic degradations."""
