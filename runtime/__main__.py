"""``python -m pyfaas``: the ``pyfaas`` command, for when the console script is not on PATH."""

from pyfaas.cli.__main__ import main

if __name__ == "__main__":
    main()
