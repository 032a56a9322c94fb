"""Stage 4, the proof: check every figure of a manuscript or PDF against its record, the disk, the
recorded environment, the archive behind a DOI and, on request, a re-execution; and the CI workflow that runs it.
"""
