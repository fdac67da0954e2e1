"""Training: datasets, augmentation, the BCE loop, checkpoints and curves."""
