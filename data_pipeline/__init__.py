"""data_pipeline: the third pipeline, which builds the data that test, staging and demo run on."""

__version__ = "0.1.0"
