"""The search service: typo-tolerant title search, suggestions, trending and new releases."""
