"""Tiles back into a scene: raised-cosine blending into stripes, and the thread that takes
finished stripes on."""
