"""Running the network on tiles: the device, the precision, the backends (PyTorch,
AOTInductor-compiled, ONNX Runtime)."""
