# neuromorph plot (sourced by cli_errors.sh: $nm, $tmp and expect are set).
pd="$tmp/plot"
mkdir -p "$pd"
printf 'time_s,neuron\n0.010,3\n0.020,7\n' >"$pd/ok.csv"
printf 'time_s,neuron\n0.010,3\n0.02x,7\n' >"$pd/badtime.csv"
printf '0.010,3\n0.020,-1\n' >"$pd/negative.csv"
printf '0.010,3,9\n' >"$pd/extra.csv"
printf '# nothing\n' >"$pd/empty.csv"
printf '{"spikes": {"n_neurons": 4, "t": [0.1, 0.2], "neuron": [1]}}' >"$pd/short.json"
printf '{"spikes": {"n_neurons": 4, "t": [0.1, "x"], "neuron": [1, 2]}}' >"$pd/notnum.json"
printf '{"epochs": [{"epoch": 1, "train_loss": 0.5, "test_accuracy": 0.8}]}' >"$pd/noacc.json"
printf '{"epochs": [' >"$pd/broken.json"
printf '{"a": [1, 2, 3]}' >"$pd/arr.json"
printf '1 2 3 four\n' >"$pd/nums.txt"
expect 2 "which figure? give KIND first" -- "$nm" plot --in "$pd/ok.csv" --out "$pd/o.png"
expect 2 "unknown figure kind 'pie'" -- "$nm" plot pie --in "$pd/ok.csv" --out "$pd/o.png"
expect 2 "in FILE and --out FILE are required" -- "$nm" plot raster --in "$pd/ok.csv"
expect 2 "must end in .png, .svg or .pdf" -- "$nm" plot raster --in "$pd/ok.csv" --out "$pd/o.bmp"
expect 2 "width must be between 120 and 16384" -- "$nm" plot raster --in "$pd/ok.csv" --out "$pd/o.png" --width 50
expect 2 "bins and --range are for hist figures" -- "$nm" plot raster --in "$pd/ok.csv" --out "$pd/o.png" --bins 5
expect 2 "range expects LO,HI with LO < HI, got '3,1'" -- "$nm" plot hist --in "$pd/arr.json" --key a --range 3,1 --out "$pd/o.png"
expect 2 "range expects LO,HI with LO < HI, got '1'" -- "$nm" plot hist --in "$pd/arr.json" --key a --range 1 --out "$pd/o.png"
expect 1 "cannot open spike file '$pd/none.csv'" -- "$nm" plot raster --in "$pd/none.csv" --out "$pd/o.png"
expect 1 "line 3 (byte 22): expected TIME,NEURON" -- "$nm" plot raster --in "$pd/badtime.csv" --out "$pd/o.png"
expect 1 "line 2 (byte 8): expected a neuron index" -- "$nm" plot raster --in "$pd/negative.csv" --out "$pd/o.png"
expect 1 "unexpected ',9' after TIME,NEURON" -- "$nm" plot raster --in "$pd/extra.csv" --out "$pd/o.png"
expect 1 "holds no spikes" -- "$nm" plot raster --in "$pd/empty.csv" --out "$pd/o.png"
expect 1 "has neuron 7, beyond --neurons 5" -- "$nm" plot raster --in "$pd/ok.csv" --out "$pd/o.png" --neurons 5
expect 1 "spikes.t has 2 times but spikes.neuron 1 indices" -- "$nm" plot raster --in "$pd/short.json" --out "$pd/o.png"
expect 1 "spikes.t\[1\] is not a number" -- "$nm" plot raster --in "$pd/notnum.json" --out "$pd/o.png"
expect 1 "is not valid JSON: .* at line 1" -- "$nm" plot curve --in "$pd/broken.json" --out "$pd/o.png"
expect 1 "epochs\[0\].train_accuracy is missing" -- "$nm" plot curve --in "$pd/noacc.json" --out "$pd/o.png"
expect 1 "has no \"epochs\" array" -- "$nm" plot curve --in "$pd/arr.json" --out "$pd/o.png"
expect 1 "holds no \"traces\" object" -- "$nm" plot traces --in "$pd/arr.json" --out "$pd/o.png"
expect 1 "has no key 'b'" -- "$nm" plot hist --in "$pd/arr.json" --key a,b --out "$pd/o.png"
expect 1 "byte 6: 'four' is not a number" -- "$nm" plot hist --in "$pd/nums.txt" --out "$pd/o.png"
expect 1 "holds no chip evaluation" -- "$nm" plot lines --in "$pd/arr.json" --out "$pd/o.png"
expect 1 "has no \"stages\" array" -- "$nm" plot bars --in "$pd/arr.json" --out "$pd/o.png"
expect 1 "cannot write '$pd/nodir/o.png'" -- "$nm" plot raster --in "$pd/ok.csv" --out "$pd/nodir/o.png"
[ -e "$pd/o.png" ] && echo "FAIL: a failed plot left $pd/o.png" && fail=$((fail + 1))
# and the good inputs draw, silently on stderr
if "$nm" plot raster --in "$pd/ok.csv" --out "$pd/ok.png" >/dev/null 2>"$tmp/err" && [ -s "$pd/ok.png" ] && [ ! -s "$tmp/err" ] &&
    "$nm" plot hist --in "$pd/arr.json" --key a --out "$pd/ok.svg" >/dev/null 2>"$tmp/err" && [ -s "$pd/ok.svg" ] && [ ! -s "$tmp/err" ]; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL: neuromorph plot raster / hist on good inputs"
fi
