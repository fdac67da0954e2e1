"""What geoseg writes: vector layers and rasters (atomically), previews, provenance."""
