#!/bin/sh
# The CLI as a user meets it: every bad flag or file ends with one clear line naming the
# problem and a non-zero exit, never a crash; Ctrl-C during training leaves a checkpoint
# that --resume continues.
# usage: cli_errors.sh NEUROMORPH TMPDIR
nm=$1
tmp=$2/cli
rm -rf "$tmp" && mkdir -p "$tmp"
pass=0
fail=0

# expect CODE PATTERN -- command...: exit status CODE, stderr matching PATTERN, one line.
expect() {
    code=$1 pattern=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    lines=$(wc -l <"$tmp/err")
    if [ "$got" -eq "$code" ] && grep -q -- "$pattern" "$tmp/err" && [ "$lines" -le 1 ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $* -> exit $got (want $code), stderr:"
        sed 's/^/    /' "$tmp/err"
    fi
}

expect 2 "unknown command 'frobnicate'" -- "$nm" frobnicate
expect 2 "unknown option '--bogus'" -- "$nm" train --bogus
expect 2 "epochs expects an integer, got 'abc'" -- "$nm" train --epochs abc
expect 2 "epochs must be between 1 and 1000, got 0" -- "$nm" train --epochs 0
expect 2 "lr expects a number, got '1e-3x'" -- "$nm" train --lr 1e-3x
expect 2 "batch needs an integer" -- "$nm" train --batch
expect 2 "unexpected argument 'extra'" -- "$nm" train extra
expect 2 "quiet takes no value" -- "$nm" train --quiet=yes
expect 1 "data directory '$tmp/nowhere' does not exist" -- "$nm" train --data "$tmp/nowhere"
expect 1 "unknown encoding 'morse'" -- "$nm" train --encoding morse --data "$tmp"
expect 1 "architecture '784-x-10'" -- "$nm" train --arch 784-x-10 --data "$tmp"
expect 1 "layer '16c5q2' has an unknown conv option" -- "$nm" train --arch 1x28x28-16c5q2-10 --data "$tmp"
expect 1 "layer '16c5' needs an image or signal input" -- "$nm" train --arch 784-16c5-10 --data "$tmp"
expect 1 "unknown neuron 'hh'" -- "$nm" train --neuron hh --data "$tmp"
expect 1 "unknown readout neuron 'lif2'" -- "$nm" train --readout-neuron lif2 --data "$tmp"
expect 1 "the mse loss compares spike counts" -- "$nm" train --loss mse --data "$tmp"
expect 1 "count readout needs a spiking readout" -- "$nm" train --readout count --data "$tmp"
expect 1 "unknown surrogate 'relu'" -- "$nm" train --surrogate relu --data "$tmp"
expect 1 "unknown optimizer 'rmsprop'" -- "$nm" train --optimizer rmsprop --data "$tmp"
expect 1 "unknown sparse mode 'maybe'" -- "$nm" train --sparse maybe --data "$tmp"
expect 1 "learnable time constants and thresholds are available on LIF" -- "$nm" train --neuron cuba --learn-neuron --data "$tmp"
expect 2 "model PATH is required" -- "$nm" eval
expect 1 "cannot open model '$tmp/none.nmm'" -- "$nm" eval --model "$tmp/none.nmm"

# A corrupt idx file: the right name with garbage inside.
mkdir -p "$tmp/bad"
printf 'this is not an idx file at all' >"$tmp/bad/train-images-idx3-ubyte"
printf '\000\000\010\001\000\000\000\002\001\002' >"$tmp/bad/train-labels-idx1-ubyte"
expect 1 "bad magic number" -- "$nm" train --data "$tmp/bad"
# A truncated one: a valid header promising more images than the file holds.
printf '\000\000\010\003\000\000\000\012\000\000\000\034\000\000\000\034abc' >"$tmp/bad/train-images-idx3-ubyte"
expect 1 "truncated" -- "$nm" train --data "$tmp/bad"
# A model file that is not one.
printf 'garbage, not a model at all' >"$tmp/garbage.nmm"
expect 1 "not a neuromorph model" -- "$nm" eval --model "$tmp/garbage.nmm"

# Device sampling: every bad flag or table file named.
expect 2 "a subcommand is needed" -- "$nm" device
expect 2 "unknown subcommand 'frob'" -- "$nm" device frob
expect 2 "unknown device 'memristor'" -- "$nm" device sample --device memristor
expect 2 "target must be between 0 and 1, got 1.5" -- "$nm" device sample --target 1.5
expect 2 "bad duration '3parsecs'" -- "$nm" device sample --time 3parsecs
expect 2 "duration '-1s' must not be negative" -- "$nm" device sample --time -1s
expect 1 "cannot open device table '$tmp/none.txt'" -- "$nm" device sample --device "$tmp/none.txt"
printf '0 0 0\n0.5 0.5\n' >"$tmp/dev.txt"
expect 1 "'$tmp/dev.txt' line 2: expected three numbers" -- "$nm" device sample --device "$tmp/dev.txt"
expect 1 "levels must be 0 (analog) or between 2" -- "$nm" device sample --device quantized --levels 1

# Chip profiles: bad subcommands, names and files end with one line naming the file and field.
expect 2 "expected a subcommand, list or show" -- "$nm" chip
expect 2 "unknown subcommand 'frob'" -- "$nm" chip frob
expect 2 "PROFILE is required" -- "$nm" chip show
expect 2 "unknown option '--bogus'" -- "$nm" chip show pcm --bogus
expect 2 "unexpected argument 'ideal'" -- "$nm" chip show pcm ideal
expect 2 "unexpected argument 'extra'" -- "$nm" chip list extra
expect 1 "no chip profile 'nosuch' (available: .*pcm" -- "$nm" chip show nosuch
expect 1 "'a b' is not a chip profile name" -- "$nm" chip show "a b"
expect 1 "nosuch.json': cannot open" -- "$nm" chip show "$tmp/nosuch.json"
printf '' >"$tmp/empty.json"
expect 1 "empty.json': the file is empty" -- "$nm" chip show "$tmp/empty.json"
printf '{"name": "x",\n  oops}\n' >"$tmp/bad.json"
expect 1 "bad.json': not valid JSON: line 2, column" -- "$nm" chip show "$tmp/bad.json"
printf '{"name": "t", "description": "d", "analog": false, "weight_bits": 0, "time_scale": 1,\n "size": {"cores": 1, "neurons_per_core": 1, "axons_per_core": 1}, "sources": {"size": "s", "weight_bits": "w"}}\n' >"$tmp/nosrc.json"
expect 1 "no source cited for time_scale" -- "$nm" chip show "$tmp/nosrc.json"
sed 's/"time_scale": 1,/"time_scale": 1, "time_scal": 1,/' "$tmp/nosrc.json" >"$tmp/typo.json"
expect 1 "time_scal is not a field of a chip profile" -- "$nm" chip show "$tmp/typo.json"

# Evaluation on a chip: the profile and the times are checked before any work.
expect 2 "samples, --time and --drift-comp need --chip" -- "$nm" eval --model "$tmp/garbage.nmm" --samples 3
expect 2 "bad duration 'later'" -- "$nm" eval --model "$tmp/garbage.nmm" --chip pcm --time 1s,later
expect 2 "drift-comp: unknown drift compensation 'sideways'" -- "$nm" eval --model "$tmp/garbage.nmm" --chip pcm --drift-comp sideways

# Hardware-aware training: every method refuses what it cannot use, before any work.
expect 2 "give --chip PROFILE" -- "$nm" train --in-loop --epochs 1
expect 2 "noise needs --weight-noise" -- "$nm" train --noise 0.05
expect 2 "unknown weight-noise kind 'loud'" -- "$nm" train --weight-noise loud
expect 2 "'loihi' is digital and has no device model" -- "$nm" train --weight-noise device --chip loihi
expect 2 "needs a PCM chip profile; 'rram' holds rram devices" -- "$nm" train --insitu mixed --chip rram
expect 2 "unknown kind 'magic'" -- "$nm" train --insitu magic
expect 2 "cannot be combined with --train-only" -- "$nm" train --insitu pulsed --train-only last
expect 2 "cannot be combined with --in-loop" -- "$nm" train --insitu pulsed --chip pcm --in-loop
expect 2 "'truenorth' is digital: there is no drift" -- "$nm" train --chip truenorth --in-loop --drift-comp global
expect 2 "drift-comp applies to a chip in the loop" -- "$nm" train --drift-comp global
expect 2 "none was given" -- "$nm" train --chip pcm
expect 2 "drop --train-only" -- "$nm" train --chip pcm --progressive --train-only last
expect 2 "the model has no node 'fc9'" -- "$nm" train --train-only fc1,fc9
expect 1 "mismatch is modelled for LIF, IF and LI populations only" -- "$nm" train --chip bss2 --in-loop --neuron cuba

# Ctrl-C mid-training writes a checkpoint; --resume continues from it.
data=/usr/share/datasets/fashion-mnist
if [ -d "$data" ]; then
    # The signal lands while the data load (training stops after its first batch whatever
    # the machine's speed): signal handlers are installed before anything else.
    args="--arch 784-64-10 --train-limit 20000 --test-limit 500 --epochs 1 --batch 32 --out $tmp/m.nmm --quiet"
    "$nm" train $args >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    sleep 0.3
    kill -INT $pid
    wait $pid
    got=$?
    if [ "$got" -eq 130 ] && grep -q "run again with --resume" "$tmp/err" && [ -f "$tmp/m.ckpt" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); echo "FAIL: interrupt -> exit $got"; cat "$tmp/err"
    fi
    "$nm" train $args --resume >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -eq 0 ] && grep -q "resumed from" "$tmp/out" && [ -f "$tmp/m.nmm" ] && [ -f "$tmp/m.json" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); echo "FAIL: resume -> exit $got"; cat "$tmp/out" "$tmp/err"
    fi
    if "$nm" eval --model "$tmp/m.nmm" --limit 200 --quiet 2>"$tmp/err" | grep -q "^accuracy .* on 200 samples"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); echo "FAIL: eval of the resumed model"; cat "$tmp/err"
    fi
else
    echo "FAIL: $data is missing; run the README's set-up first"
    fail=$((fail + 1))
fi

# Each command's own checks, in tests/cli_errors.d/*.sh, use the same expect.
for f in "$(dirname "$0")"/cli_errors.d/*.sh; do
    [ -f "$f" ] && . "$f"
done

echo "cli_errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
