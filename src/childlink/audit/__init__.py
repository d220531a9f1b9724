"""Tamper-evident audit trail: hash-chained entries, verification and supervision reports."""
