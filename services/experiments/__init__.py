"""Experiments: A/B tests of the client surfaces with exposure logging and a read-out."""
