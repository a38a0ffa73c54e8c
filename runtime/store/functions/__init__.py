"""Handler folders of the bundled store functions (local mode imports each ``handler.py`` in place)."""
