"""The function store catalog: bundled entries shared by the CLI and the web portal."""
