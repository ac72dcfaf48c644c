"""Parity (artifact vs torch float), task (vs ground truth), budgets and reports."""
