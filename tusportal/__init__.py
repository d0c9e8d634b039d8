"""tusportal: a tus 1.0.0 ingest portal."""
