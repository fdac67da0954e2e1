#!/usr/bin/env bash
# The recipe levers of docs/models.md, one at a time (two cores: never two trainings at once),
# each the baseline config with one key changed; each run's best and last epochs are scored
# through predict on the validation places into runs/eval/. Resumable: a run with a checkpoint
# and no runs/NAME/done goes on from it. Run it in the background, all runs or the named ones:
#   nohup benchmarks/recipe_levers.sh > runs/levers.log 2>&1 &
#   nohup benchmarks/recipe_levers.sh lever-be-low-lr > runs/levers.log 2>&1 &
#   nohup benchmarks/recipe_levers.sh lite2-teacher student-lite2 > runs/levers.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
mkdir -p runs/eval
BASELINE=configs/eunet-mobilenetv2-allplaces.yaml
ONLY="$*"
run() {  # run NAME [--set KEY=VALUE ...]; CONFIG=... before it trains another config than the baseline
    name=$1; shift
    config=${CONFIG:-$BASELINE}
    if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi
    mkdir -p runs/$name
    if [ ! -f runs/$name/done ]; then
        resume=""
        [ -f runs/$name/model.ckpt ] && resume="--resume runs/$name/model.ckpt"
        .venv/bin/geoseg train $config "$@" $resume -o runs/$name/model.safetensors >> runs/$name/train.log 2>&1 || return
        touch runs/$name/done
    fi
    .venv/bin/python benchmarks/last_epoch.py runs/$name/model.ckpt runs/$name/model.safetensors runs/$name/last.safetensors
    .venv/bin/python benchmarks/eval_buildings.py --model runs/$name/model.safetensors --variants separated --json > runs/eval/$name-best.json
    .venv/bin/python benchmarks/eval_buildings.py --model runs/$name/last.safetensors --variants separated --json > runs/eval/$name-last.json
}
run allplaces  # the baseline
run lever-a-style --set style_transfer=0.5
run lever-d-cutmix --set cutmix=0.5
run lever-b-sensor --set sensor_faults=0.25
run lever-e-gaps --set gap_weight=4 --set separation_weight=2
run lever-c-selftrain --set teacher=eunet-mobilenetv2-buildings --set "unlabelled=[../../shared/data/scenes]" --set distill=0.5 --set unlabelled_share=0.15
# the schedule: (b) and (e) together, a third of the baseline's peak learning rate, half its epochs
run lever-be-low-lr --set sensor_faults=0.25 --set gap_weight=4 --set separation_weight=2 --set lr=0.00015 --set epochs=8
# issue 27's stronger teacher (E-UNet on EfficientNet-Lite2, 60 epochs, about 2.5 h on this CPU),
# then the default's student fine-tuned from the shipped model on its soft targets, with (e)
CONFIG=configs/eunet-efficientnet-lite2-allplaces.yaml run lite2-teacher
run student-lite2 --set teacher=../runs/lite2-teacher/model.safetensors --set "unlabelled=[../../shared/data/scenes]" \
    --set distill=0.5 --set unlabelled_share=0.15 --set gap_weight=4 --set separation_weight=2
