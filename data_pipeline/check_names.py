"""The names of the blocking checks: one enum, so the ledger, the Dagster checks and the CLI agree.

A name is a string (StrEnum), so `CheckName.K_ANONYMITY == "k_anonymity"` and ledger records written
before the enum existed still read back.

    >>> CheckName.ROW_COUNT_KEPT.description
    'Every source row is in the output.'
"""

from __future__ import annotations

from enum import StrEnum


class CheckName(StrEnum):
    ROW_COUNT_KEPT = "row_count_kept"
    COLUMNS_CLASSIFIED = "columns_classified"
    UNIQUE_COLUMNS = "unique_columns"
    NO_LEAKED_ORIGINALS = "no_leaked_originals"
    K_ANONYMITY = "k_anonymity"
    EXPECTATIONS = "expectations"
    FOREIGN_KEYS_RESOLVE = "foreign_keys_resolve"
    PARTS_PASSED = "parts_passed"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    CheckName.ROW_COUNT_KEPT: "Every source row is in the output.",
    CheckName.COLUMNS_CLASSIFIED: "Every column is classified by the policy (fail closed).",
    CheckName.UNIQUE_COLUMNS: "Unique and primary-key columns stay unique.",
    CheckName.NO_LEAKED_ORIGINALS: "No original identifying value (keyed fingerprints) appears anywhere.",
    CheckName.K_ANONYMITY: "Every combination of quasi-identifiers is shared by at least k rows.",
    CheckName.EXPECTATIONS: "The table's Great Expectations suite passes.",
    CheckName.FOREIGN_KEYS_RESOLVE: "Every foreign key of the anonymized table resolves in its parent.",
    CheckName.PARTS_PASSED: "Every part of a table anonymized in parts passed its own checks.",
}

# What the anonymize step of a whole table decides over its rows.
TABLE_CHECKS = (
    CheckName.ROW_COUNT_KEPT,
    CheckName.COLUMNS_CLASSIFIED,
    CheckName.UNIQUE_COLUMNS,
    CheckName.NO_LEAKED_ORIGINALS,
    CheckName.K_ANONYMITY,
)
# What one part decides on its own rows; the table-wide ones run when the parts are combined.
PART_CHECKS = (CheckName.ROW_COUNT_KEPT, CheckName.COLUMNS_CLASSIFIED, CheckName.NO_LEAKED_ORIGINALS)
# What combining the parts decides over the whole table.
COMBINED_CHECKS = (
    CheckName.ROW_COUNT_KEPT,
    CheckName.PARTS_PASSED,
    CheckName.UNIQUE_COLUMNS,
    CheckName.K_ANONYMITY,
)
