"""Recommendation models: baselines, sequence encoders and the hierarchical interest model (chapters 07-09)."""
