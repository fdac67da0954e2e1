"""What changed between buildings found and buildings already mapped (``geoseg compare``)."""
