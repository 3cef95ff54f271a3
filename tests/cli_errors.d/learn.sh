# convert and train --method stdp|evolve (sourced by cli_errors.sh: $nm, $tmp and expect are set).
# A tiny idx set of two 2x2 images, so that the checks that need data run in no time.
ld="$tmp/learn_data"
mkdir -p "$ld"
for s in train t10k; do
    printf '\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\002\000\200\377\020\377\000\010\200' >"$ld/$s-images-idx3-ubyte"
    printf '\000\000\010\001\000\000\000\002\000\001' >"$ld/$s-labels-idx1-ubyte"
done
expect 2 "give either --ann MODEL (convert it) or --arch SPEC" -- "$nm" convert
expect 2 "give either --ann MODEL" -- "$nm" convert --ann "$tmp/m.nmm" --arch 784-10
expect 2 "ann-epochs and --ann-lr train a network from --arch" -- "$nm" convert --ann "$tmp/m.nmm" --ann-epochs 3
expect 2 "steps expects ascending step counts" -- "$nm" convert --arch 784-10 --steps 16,8
expect 2 "steps expects ascending step counts" -- "$nm" convert --arch 784-10 --steps 8,x
expect 2 "steps ends with a comma" -- "$nm" convert --arch 784-10 --steps 8,
expect 2 "unknown normalization 'median'" -- "$nm" convert --arch 784-10 --norm median
expect 2 "percentile must be between" -- "$nm" convert --arch 784-10 --percentile 0
expect 1 "data directory '$tmp/nowhere' does not exist" -- "$nm" convert --arch 784-10 --data "$tmp/nowhere"
expect 1 "cannot open model '$tmp/none.nmm'" -- "$nm" convert --ann "$tmp/none.nmm" --data "$ld"
expect 1 "has 2x2 images but the model takes 784 inputs" -- "$nm" convert --arch 784-10 --data "$ld" --out "$tmp/c.nmm"
expect 2 "unknown --method 'hebb' (choose bptt, stdp or evolve)" -- "$nm" train --method hebb
expect 2 "neurons must be between 1 and 65536, got 0" -- "$nm" train --method stdp --neurons 0
expect 2 "unknown option '--epochs'" -- "$nm" train --method=stdp --epochs 3
expect 2 "dt must be between" -- "$nm" train --method stdp --dt 0
expect 1 "data directory '$tmp/nowhere' does not exist" -- "$nm" train --method stdp --data "$tmp/nowhere"
expect 2 "sigma must be between" -- "$nm" train --method evolve --sigma 0
expect 1 "has 2x2 images but the model takes 784 inputs" -- "$nm" train --method evolve --data "$ld" --out "$tmp/e.nmm"
expect 1 "architecture '4-x-2'" -- "$nm" train --method evolve --arch 4-x-2 --data "$ld" --out "$tmp/e.nmm"
