"""Protection at rest: keyed pseudonyms, field encryption with rotating keys, masking helpers."""
