"""Stage 2, the paper: scan a manuscript for figure macros, resolve each reference (the one resolver),
generate ``paperlink-data.tex`` and ``paperlink.bib``, read the PDF manifest, and bundle the sources for arXiv.
"""
