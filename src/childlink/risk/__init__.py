"""Risk monitoring: child timelines, as-of features, indicator rules, models and scores.

Features and rules are computed strictly from what the platform knew before the scoring date
(see ``docs/risk.md``); scores support, never replace, a worker's judgement.
"""
