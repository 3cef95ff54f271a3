#!/bin/sh
# The Foundation's Fashion-MNIST SNN (784-1000-10, the demo's model) deployed naively on
# every chip profile: accuracy mean +- std over chip samples, at 1 s, 1 h, 1 day and 1 year
# after programming for the drifting devices (rram, pcm), at 1 s for the others.
#
# usage: sh bench/chip_table.sh [MODEL] [SAMPLES] [OUTDIR]
#   MODEL    a trained model (default demo-out/model.nmm; made by `neuromorph demo` if absent)
#   SAMPLES  chip samples per profile (default 10)
#   OUTDIR   where the JSON reports go (default bench-out)
# The neuromorph binary is $NM (default build/neuromorph).
set -e
nm=${NM:-build/neuromorph}
model=${1:-demo-out/model.nmm}
samples=${2:-10}
out=${3:-bench-out}
mkdir -p "$out"
if [ ! -f "$model" ]; then
    echo "== no model at $model: training the demo's network first"
    "$nm" demo --out "$(dirname "$model")" --quiet
fi
start=$(date +%s)
for p in ideal rram pcm bss2 truenorth loihi; do
    times=1s
    case $p in rram | pcm) times=1s,1h,1d,1y ;; esac
    echo "== $p"
    "$nm" eval --model "$model" --chip "$p" --samples "$samples" --time "$times" --quiet --out "$out/chip-$p.json"
done
echo "chip_table_seconds=$(($(date +%s) - start))"
