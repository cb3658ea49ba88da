"""Recommendations: interaction log, hybrid LightFM model, real-time re-ranking, explained rows."""
