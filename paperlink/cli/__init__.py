"""The ``paperlink`` command: thin click commands, one module per area, over the stages' library API;
terminal views, list formats and progress bars (rich lives only here).
"""
