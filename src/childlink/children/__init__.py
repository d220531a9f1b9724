"""Master children (one per real child after linkage), their families and guardians."""
