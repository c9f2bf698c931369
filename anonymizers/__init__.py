"""Anonymization policies and project-specific rules (registered by name)."""
