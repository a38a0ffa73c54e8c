"""Store function `json-yaml` (handler folder)."""
