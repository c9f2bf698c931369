"""Dagster definitions of data_pipeline: `dagster dev -m assets.definitions`."""
