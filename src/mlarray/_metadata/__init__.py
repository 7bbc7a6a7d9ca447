"""The metadata model's machinery: shared namespace behaviour, field checks, JSON, schema, validation reports."""
