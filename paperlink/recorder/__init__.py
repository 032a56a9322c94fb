"""Stage 1, record a run: ``paperlink run -- CMD`` and the Python API run a command and build its Record —
the code version (git), parameters, platform and packages, streams, signals, Slurm and MPI, a container run
through :mod:`paperlink.containers`, and ``rerun``.
"""
