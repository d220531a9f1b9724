"""Record linkage: the master child index built from every department's source records.

``prepare`` pulls the linkable child records into one frame, ``engine`` links them (a
deterministic pass on ID and student numbers, then Splink's Fellegi-Sunter model on DuckDB,
then constrained clustering), ``service`` writes master children with stable identifiers and
``evaluate`` measures the result against the synthetic county's ground truth.
"""
