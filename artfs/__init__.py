"""artfs: versioned, deduplicated artifacts for ML pipelines."""
