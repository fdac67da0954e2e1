#!/usr/bin/env bash
# Issue 28's checks on a GPU machine, in one device call of about 8 minutes, everything into
# $OUT: the predictor alone, `geoseg predict` end to end on a 16 000^2 scene with --compile
# no, auto and yes and with a batch of 16 (each under faulthandler: a crash leaves its stack in log.txt),
# bench_pipeline.py for 1 to 16 workers, and peak RSS at 2 000^2 and 16 000^2.
#
# Here, first: benchmarks/gpu_bundle.sh (the GDAL stack for the GPU machine's Python). Then
# run(command="benchmarks/gpu_checks.sh", carry=[".whl"], timeout_s=600).
# SIZE=2000 BUNDLE=none PY=.venv/bin/python runs the same steps small, here on the CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/geoseg-gpu-checks}
SIZE=${SIZE:-16000}
mkdir -p "$OUT"
BUNDLE=${BUNDLE:-.whl/geoseg-gpu-site.tar.xz}  # BUNDLE=none: geoseg is installed already
if [ "$BUNDLE" != none ]; then
    tar -C /tmp -xJf "$BUNDLE" || { echo "no $BUNDLE: run benchmarks/gpu_bundle.sh and carry .whl" >&2; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 GEOSEG_CACHE=${GEOSEG_CACHE:-/tmp/geoseg-cache}
PY=${PY:-python3}
log="$OUT/log.txt"
step() {  # step NAME SECONDS COMMAND...: its stdout to $OUT/NAME.json, its stderr and exit status to the log
    local name=$1 seconds=$2
    shift 2
    echo "== $name: $*" >>"$log"
    local started=$SECONDS
    timeout "$seconds" "$@" >"$OUT/$name.json" 2>>"$log"
    echo "== $name: exit $? after $((SECONDS - started)) s" >>"$log"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; $PY -c "import torch; print(torch.__version__)"; } >"$OUT/machine.txt" 2>&1
$PY -c "import sys; sys.path.insert(0, 'benchmarks'); from bench_memory import write_synthetic; write_synthetic('/tmp/scene.tif', $SIZE)"
predict() {  # predict NAME SECONDS OPTION...
    local name=$1 seconds=$2
    shift 2
    step "predict_${SIZE}_$name" "$seconds" $PY -X faulthandler -m geoseg predict /tmp/scene.tif -o "/tmp/b-$name.gpkg" \
        --overwrite --json --progress none "$@"
}
# most wanted first: a call stopped at its limit still brings back what is in $OUT
predict compile_auto 120 --compile auto
predict compile_no 120 --compile no
predict batch16 90 --batch-size 16  # the default batch is 4 on every device: is a larger one worth its default on CUDA?
step predictor 70 $PY -X faulthandler benchmarks/bench_predictor.py --batch-sizes 8 32 --seconds 8 --json
step predictor_on_device 45 $PY -X faulthandler benchmarks/bench_predictor.py --batch-sizes 32 --seconds 8 --on-device --json
workers=$(seq 1 "$(nproc)" | awk '$1 == 1 || $1 == 2 || $1 % 4 == 0' | tr '\n' ' ')
step pipeline 120 $PY -X faulthandler benchmarks/bench_pipeline.py --size 8000 --workers $workers --json
predict compile_yes 200 --compile yes  # compiles for CUDA (about a minute) and proves the package in a child first
step memory 150 $PY benchmarks/bench_memory.py --sizes 2000 "$SIZE" --json
ls -l "$OUT" >>"$log"
