"""Stage 3, the archive: bundle outputs, records, code, the RO-Crate and the image, and deposit them on
Zenodo or an InvenioRDM (the only users of ``requests``) or into a folder, to get the DOI the figures link to.
"""
