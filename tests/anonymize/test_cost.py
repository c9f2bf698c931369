"""The relative cost of anonymizing a table: rows, weighted by what its rules do to them."""

from data_pipeline.anonymize.cost import SCRUBBED_TEXT, TRANSFORMED, relative_cost


def test_kept_columns_cost_the_rows_alone() -> None:
    assert relative_cost(500, ["keep", "keep"]) == relative_cost(500, []) == 500


def test_scrubbed_text_outweighs_other_rules() -> None:
    assert relative_cost(10, ["free_text"]) == relative_cost(10, ["json"]) == 10 * (1 + SCRUBBED_TEXT)
    assert relative_cost(10, ["email", "phone"]) == 10 * (1 + 2 * TRANSFORMED)


def test_an_unknown_rule_weighs_nothing() -> None:
    """The policy names a rule the registry does not know: the policy's own check reports it."""
    assert relative_cost(10, ["no_such_rule"]) == 10
