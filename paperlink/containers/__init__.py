"""The container engines and images a run uses: the Docker SDK (only here), SIF files read without
Apptainer, and image archives (``docker save``) that publish and rerun use.
"""
