"""Reading scenes: where they are (local or remote), which pixels (bands, area, tiles),
at which pixel size, stretched to bytes."""
