"""Networks, heads, model cards and weights files. Import the submodule you need: the
registry (and with it torch) is loaded only by code that builds or runs a network, so
reading a card or vectorising a raster starts fast."""
