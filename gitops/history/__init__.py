"""Batch history: log parsing, the cold scan, the sqlite index and the queries of list and show."""
