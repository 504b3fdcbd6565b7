"""The labelled records (records.jsonl) and how they are built (build.py)."""
