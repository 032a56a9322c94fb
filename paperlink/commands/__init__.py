"""The commands of the ``paperlink`` command line, one module per area, loaded when first used."""
