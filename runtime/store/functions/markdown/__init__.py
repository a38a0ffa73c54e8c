"""Store function `markdown` (handler folder)."""
