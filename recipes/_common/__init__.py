"""The generic training engine (trainer.py), strict YAML configs (config.py) and losses."""
