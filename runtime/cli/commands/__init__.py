"""The ``pyfaas`` subcommands, one module per area; ``runtime.cli.__main__`` registers them."""
