"""One module per export format; each defines the same names (see _common.FORMAT_CONTRACT)."""
