"""Store function `sleep` (handler folder)."""
