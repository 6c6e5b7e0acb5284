"""motorflow: clinical movement videos → validated motor-assessment models.

One module per workflow stage (``synth``, ``pose``, ``clean``, ``qc``, ``validate``), shared
formats in ``poseio`` and ``skeleton``; the Snakefile calls these through thin adapters and
``motorflow <stage>`` runs each outside Snakemake.
"""

__version__ = "0.1.0"
