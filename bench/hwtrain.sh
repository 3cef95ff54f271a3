#!/bin/sh
# Hardware-aware training on Fashion-MNIST (784-1000-10 LIF, the demo's network): every
# number of the "Hardware-aware training" section of bench/RESULTS.md.
#
# usage: sh bench/hwtrain.sh [STAGES] [OUTDIR]
#   STAGES  comma list (default all): models, loop, noise, drift, mixed, hybrid
#     models  train the network with weight noise sigma = 0, 2, 5, 10 % of max|W| (relative)
#     loop    chip-in-the-loop (1 epoch) on SAMPLES samples of bss2-uncal, from the sigma = 0 model
#     noise   the four models on SAMPLES samples of rram at 1 s
#     drift   sigma 0 and 5 % models on pcm at 1 s, 1 h, 1 d, 1 y, without and with global
#             drift compensation
#     mixed   PCM + capacitor in-situ training (closed- and open-loop transfer) against float
#             SGD, same network and schedule
#     hybrid  on-chip fine-tuning of the last layer (LOOP_LIMIT images) on rram samples, before
#             and after
#   OUTDIR  where models, reports and logs go (default bench-out/hwtrain)
# Environment: NM (the binary, default build/neuromorph), EPOCHS (training epochs, 10),
# SAMPLES (chip samples, 5), DRIFT_SAMPLES (chip samples of the drift table, 3), LOOP_LIMIT
# (images per chip-in-the-loop epoch of the hybrid stage, 30000).
set -e
nm=${NM:-build/neuromorph}
stages=${1:-models,loop,noise,drift,mixed,hybrid}
out=${2:-bench-out/hwtrain}
epochs=${EPOCHS:-10}
samples=${SAMPLES:-5}
drift_samples=${DRIFT_SAMPLES:-3}
loop_limit=${LOOP_LIMIT:-30000}
mkdir -p "$out"
has() { case ",$stages," in *",$1,"*) return 0 ;; esac; return 1; }
# the last "accuracy X%" of a log
acc() { sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' "$1" | tail -1; }
limit_opt() { [ "$loop_limit" -gt 0 ] && echo "--train-limit $loop_limit" || true; }
start=$(date +%s)

if has models; then
    for s in 0 0.02 0.05 0.10; do
        kind=relative
        [ "$s" = 0 ] && kind=none
        [ -f "$out/noise-$s.nmm" ] && continue
        echo "== train, weight noise $s of max|W|"
        if [ "$kind" = none ]; then
            "$nm" train --epochs "$epochs" --out "$out/noise-$s.nmm" --quiet >"$out/train-noise-$s.log"
        else
            "$nm" train --epochs "$epochs" --weight-noise relative --noise "$s" --out "$out/noise-$s.nmm" --quiet >"$out/train-noise-$s.log"
        fi
        tail -1 "$out/train-noise-$s.log"
    done
fi
base=$out/noise-0.nmm

if has loop; then
    "$nm" eval --model "$base" --quiet >"$out/ideal.log"
    echo "== chip-in-the-loop on bss2-uncal: ideal model $(acc "$out/ideal.log")%"
    echo "| sample | ideal | naive on chip | after 1 epoch in the loop |"
    echo "|---|---|---|---|"
    for k in $(seq 1 "$samples"); do
        "$nm" eval --model "$base" --chip bss2-uncal --chip-seed "$k" --samples 1 --quiet >"$out/loop-naive-$k.log"
        "$nm" train --init "$base" --chip bss2-uncal --chip-seed "$k" --in-loop --epochs 1 --lr 5e-4 \
            --out "$out/loop-$k.nmm" --quiet >"$out/loop-$k.log"
        after=$(sed -n 's/.*after training: accuracy \([0-9.]*\)%.*/\1/p' "$out/loop-$k.log")
        echo "| $k | $(acc "$out/ideal.log") | $(acc "$out/loop-naive-$k.log") | $after |"
    done
fi

if has noise; then
    echo "== noise injection: rram, $samples samples, 1 s after programming"
    echo "| sigma (of max abs W) | software | rram (mean +- std) |"
    echo "|---|---|---|"
    for s in 0 0.02 0.05 0.10; do
        "$nm" eval --model "$out/noise-$s.nmm" --chip rram --samples "$samples" --quiet --out "$out/noise-$s-rram.json" >"$out/noise-$s-rram.log"
        sw=$(sed -n 's/^software accuracy \([0-9.]*\)%.*/\1/p' "$out/noise-$s-rram.log")
        chip=$(sed -n 's/.*accuracy \([0-9.]*% +- [0-9.]*%\).*/\1/p' "$out/noise-$s-rram.log")
        echo "| $s | $sw% | $chip |"
    done
fi

if has drift; then
    echo "== PCM drift, $drift_samples samples"
    for s in 0 0.05; do
        for dc in none global; do
            "$nm" eval --model "$out/noise-$s.nmm" --chip pcm --samples "$drift_samples" --time 1s,1h,1d,1y --drift-comp "$dc" \
                --quiet --out "$out/drift-$s-$dc.json" >"$out/drift-$s-$dc.log"
            echo "-- sigma $s, drift compensation $dc"
            grep -E "^software|^chip" "$out/drift-$s-$dc.log"
        done
    done
fi

if has mixed; then
    echo "== mixed precision (PCM + capacitor) against float SGD, same network and schedule"
    opts="--epochs $epochs --optimizer sgd --lr 0.02 --momentum 0 --weight-decay 0 --quiet"
    mixed="--insitu mixed --chip pcm --transfer-every 8000"
    [ -f "$out/sgd-float.nmm" ] || "$nm" train $opts --out "$out/sgd-float.nmm" >"$out/sgd-float.log"
    [ -f "$out/sgd-mixed.nmm" ] || "$nm" train $opts $mixed --out "$out/sgd-mixed.nmm" >"$out/sgd-mixed.log"
    [ -f "$out/sgd-mixed-open.nmm" ] || "$nm" train $opts $mixed --verify-iters 0 --out "$out/sgd-mixed-open.nmm" >"$out/sgd-mixed-open.log"
    echo "float SGD:                           $(acc "$out/sgd-float.log")%"
    echo "PCM + capacitor, closed-loop transfer: $(acc "$out/sgd-mixed.log")%  ($(grep -o '[0-9]* transfers' "$out/sgd-mixed.log"))"
    echo "PCM + capacitor, open-loop transfer:   $(acc "$out/sgd-mixed-open.log")%"
fi

if has hybrid; then
    echo "== hybrid: fine-tune the last layer on rram samples (1 epoch in the loop)"
    echo "| sample | before | after |"
    echo "|---|---|---|"
    for k in $(seq 1 "$samples"); do
        "$nm" train --init "$base" --chip rram --chip-seed "$k" --in-loop --train-only last --epochs 1 --lr 5e-4 $(limit_opt) \
            --out "$out/hybrid-$k.nmm" --quiet >"$out/hybrid-$k.log"
        before=$(sed -n 's/.*before training: accuracy \([0-9.]*\)%.*/\1/p' "$out/hybrid-$k.log")
        after=$(sed -n 's/.*after training: accuracy \([0-9.]*\)%.*/\1/p' "$out/hybrid-$k.log")
        echo "| $k | $before | $after |"
    done
fi
echo "hwtrain_seconds=$(($(date +%s) - start))"
