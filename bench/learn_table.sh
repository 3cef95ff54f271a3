#!/bin/sh
# One dataset, four ways to a spiking network: surrogate-gradient BPTT, ANN-to-SNN conversion,
# unsupervised STDP (Diehl & Cook 2015) and an evolution strategy. Runs each through the CLI,
# then writes a markdown table of test accuracy, training time and spikes per inference.
#
# usage: sh bench/learn_table.sh [OUTDIR] [--quick]
#   OUTDIR   reports, models and the table (default bench-out/learn)
#   --quick  a first look: fewer epochs, images and generations (minutes instead of an hour)
# The neuromorph binary is $NM (default build/neuromorph), the data $DATA (default Debian's
# Fashion-MNIST). Needs jq to read the JSON reports.
set -e
nm=${NM:-build/neuromorph}
out=${1:-bench-out/learn}
quick=0
for a in "$@"; do [ "$a" = --quick ] && quick=1; done
[ "$out" = --quick ] && out=bench-out/learn
data=${DATA:-/usr/share/datasets/fashion-mnist}
command -v jq >/dev/null || { echo "learn_table.sh: needs jq (apt-get install jq)" >&2; exit 2; }
mkdir -p "$out"

# the settings: the full run, or --quick
bptt_epochs=10 ann_epochs=10 stdp_images=60000 es_gens=1000 test=0
if [ $quick = 1 ]; then bptt_epochs=1 ann_epochs=2 stdp_images=5000 es_gens=100 test=2000; fi
lim=""
[ "$test" -gt 0 ] && lim="--test-limit $test"

echo "== BPTT: 784-500-10 LIF, $bptt_epochs epochs"
"$nm" train --arch 784-500-10 --epochs "$bptt_epochs" $lim --quiet --out "$out/bptt.nmm" --report "$out/bptt.json"
echo "== conversion: 784-500-10 ReLU, $ann_epochs epochs, 99.9th percentile"
"$nm" convert --arch 784-500-10 --ann-epochs "$ann_epochs" $lim --quiet --out "$out/conv.nmm" --report "$out/conv.json"
echo "== STDP: Diehl & Cook, 400 neurons, $stdp_images images"
"$nm" train --method stdp --neurons 400 --train-limit "$stdp_images" $lim --quiet --out "$out/stdp.json"
echo "== evolution strategy: 784-32-10 LIF, $es_gens generations"
"$nm" train --method evolve --arch 784-32-10 --generations "$es_gens" $lim --quiet --out "$out/es.nmm" --report "$out/es.json"

row() {   # method, network, report, accuracy path, seconds path, spikes path
    jq -r --arg m "$1" --arg n "$2" \
        "\"| \\(\$m) | \\(\$n) | \\(($4) * 10000 | round / 100) | \\(($5) | round) | \\(($6) | round) |\"" "$3"
}
{
    echo "| method | network | test accuracy (%) | training time (s) | spikes per inference |"
    echo "|---|---|---|---|---|"
    row "BPTT (surrogate gradients)" "784-500-10 LIF, 25 steps" "$out/bptt.json" .test.accuracy "[.epochs[].seconds] | add" .test.spikes_per_sample
    row "ANN-to-SNN conversion" "784-500-10 IF, 128 steps" "$out/conv.json" \
        '.snn.results[] | select(.steps == 128) | .accuracy' .train_seconds \
        '.snn.results[] | select(.steps == 128) | .spikes_per_inference'
    row "STDP (Diehl & Cook)" "784-400 conductance LIF, 700 steps" "$out/stdp.json" .test.accuracy .train_seconds \
        .test.spikes_per_sample
    row "evolution strategy" "784-32-10 LIF, 25 steps" "$out/es.json" .test.accuracy .train_seconds .test.spikes_per_sample
} >"$out/table.md"
cat "$out/table.md"
