"""The stages of a run, one module each, as functions of one `Context`: snapshot, anonymize, check,
publish. The Dagster assets (assets/) and the CLI call exactly these; nothing here knows Dagster."""
