#!/usr/bin/env bash
# The packages geoseg needs that the GPU machine's Python 3.12 lacks (it has torch, numpy,
# scipy, pandas, pillow, click, timm, safetensors, but no GDAL stack), unpacked into one
# folder and xz-compressed, so that they travel within the 64 MiB a device call carries:
# .whl/geoseg-gpu-site.tar.xz (about 42 MB). Run here, where the package registries answer;
# then carry ".whl" in the device call and run benchmarks/gpu_checks.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl/wheels .whl/site
mkdir -p .whl/wheels .whl/site
# rasterio and pyogrio newer than these are too large to travel; the rest as in the venv here
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl/wheels rasterio==1.4.3 pyogrio==0.10.0 pyproj==3.7.1 shapely==2.2.0 geopandas==1.2.0 \
    segmentation-models-pytorch==0.6.0 affine cligj click-plugins
for wheel in .whl/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" .whl/site  # a wheel is a zip of what a target install holds
done
tar -C .whl -cJf .whl/geoseg-gpu-site.tar.xz site
rm -rf .whl/wheels .whl/site
ls -l .whl/geoseg-gpu-site.tar.xz
