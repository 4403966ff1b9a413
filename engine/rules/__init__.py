"""Notification rules: rules/*.yaml, evaluated over the warehouse, each firing sent once.

from engine.rule_runner import run_rules_once
"""

from .spec import RuleDo, RuleSpec, RuleWhen

__all__ = ["RuleDo", "RuleSpec", "RuleWhen"]
