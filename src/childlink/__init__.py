"""ChildLink: cross-department child data sharing platform."""

__version__ = "0.1.0"
