"""Data quality: per-batch field metrics, quarantine workflow and quality reports."""
