"""Store function `echo` (handler folder)."""
