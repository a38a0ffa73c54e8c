"""The ``pyfaas`` subcommands, one module per area; ``pyfaas.cli.__main__`` registers them."""
