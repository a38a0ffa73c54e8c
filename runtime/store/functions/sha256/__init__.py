"""Store function `sha256` (handler folder)."""
