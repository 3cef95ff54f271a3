# map and energy (sourced by cli_errors.sh: $nm, $tmp and expect are set).
expect 2 "map: --chip PROFILE is required" -- "$nm" map --arch 784-100-10
expect 2 "give exactly one of --model PATH and --arch SPEC" -- "$nm" map --chip truenorth
expect 2 "give exactly one of --model PATH and --arch SPEC" -- "$nm" map --chip truenorth --arch 4-2 --model "$tmp/m.nmm"
expect 2 "unknown placement 'spiral'" -- "$nm" map --arch 784-100-10 --chip loihi --place spiral
expect 1 "profile 'nochip'" -- "$nm" map --arch 784-100-10 --chip nochip
expect 1 "each neuron reads 784 inputs but a core has 256 axons (exceeds by 528)" -- "$nm" map --arch 784-246-10 --chip bss2
expect 1 "neuron 0 reads 576 inputs but a core has 256 axons (exceeds by 320)" -- "$nm" map --arch 1x28x28-16c5ap2-32c5ap2-10 --chip truenorth
expect 1 "does not fit on bss2: needs 3 cores, the chip has 2 (exceeds by 1; 2 chips)" -- "$nm" map --arch 256-256-10-10 --chip bss2 --quiet
expect 1 "cannot open" -- "$nm" map --model "$tmp/missing.nmm" --chip loihi
expect 2 "energy: --model PATH and --chip PROFILE are required" -- "$nm" energy --chip loihi
expect 2 "chip-seed needs --on-chip" -- "$nm" energy --model "$tmp/m.nmm" --chip loihi --chip-seed 3
expect 2 "limit expects" -- "$nm" energy --model "$tmp/m.nmm" --chip loihi --limit x
expect 1 "cannot open" -- "$nm" energy --model "$tmp/missing.nmm" --chip loihi
