"""Probabilities into building polygons: touching buildings split, strips joined across
seams, outlines shaped."""
