"""Keyed, deterministic, vectorized anonymization rules and the engine that applies a policy."""

from data_pipeline.anonymize import basic, dates, identifiers, people, text  # noqa: F401 (register)
from data_pipeline.anonymize.registry import RULES, RuleContext, register

__all__ = ["RULES", "RuleContext", "register"]
