"""Households: guardians and siblings of the master children linked into families.

``evidence`` holds the rules that say two children share a household (pure polars), ``service``
builds families with stable ids and reads a child's family and siblings, ``evaluate`` measures
sibling pairs against the synthetic county's household truth.
"""
