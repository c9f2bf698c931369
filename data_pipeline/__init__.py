"""data_pipeline: the third pipeline, which builds the data that test, staging and demo run on."""

# the engine version: part of the anonymized assets' code version and of what a resumed run may reuse,
# so it goes up whenever anonymized outputs change (0.2.0: NUMERIC as exact text, JSON written compact)
__version__ = "0.2.0"
