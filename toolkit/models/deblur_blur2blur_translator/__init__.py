"""Blur2Blur's translator alone: unknown camera blur -> known blur (see model.py)."""
