"""Alerts: from a risk found to the responsible worker told, answered, escalated and closed."""
