"""Project-specific rules: register a column function by name, then use it in policy.yaml.

Listed in the policy under `plugins: [anonymizers.custom]`.
"""

from __future__ import annotations

import pandas as pd

from data_pipeline.anonymize import RuleContext, register

JOB_FAMILIES = {
    "engineer": "Engineering",
    "developer": "Engineering",
    "scientist": "Science",
    "manager": "Management",
    "director": "Management",
    "officer": "Management",
    "sales": "Sales",
    "account": "Sales",
    "designer": "Design",
    "analyst": "Analysis",
    "nurse": "Health",
    "doctor": "Health",
    "teacher": "Education",
}


@register("job_family", classes=("quasi", "safe"), per_value=True)
def job_family(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Generalizes a job title to a coarse family ('Senior Data Engineer' -> 'Engineering')."""
    lowered = values.astype(str).str.lower()
    out = pd.Series("Other", index=values.index, dtype=object)
    for word, family in JOB_FAMILIES.items():
        out = out.mask(lowered.str.contains(word, regex=False) & (out == "Other"), family)
    return out
