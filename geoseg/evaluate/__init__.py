"""Predictions against the truth: pixel and object scores."""
