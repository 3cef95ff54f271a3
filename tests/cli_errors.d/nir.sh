# neuromorph nir (sourced by cli_errors.sh: $nm, $tmp and expect are set).
expect 2 "unknown subcommand 'frob'" -- "$nm" nir frob
expect 2 "a FILE is required" -- "$nm" nir info
expect 2 "a FILE is required" -- "$nm" nir import --dt 1e-3
expect 1 "cannot open NIR file" -- "$nm" nir info "$tmp/no-such.nir"
printf 'not an hdf5 file' > "$tmp/junk.nir"
expect 1 "no HDF5 signature at byte 0" -- "$nm" nir info "$tmp/junk.nir"
expect 1 "no HDF5 signature at byte 0" -- "$nm" nir import "$tmp/junk.nir"
expect 1 "no HDF5 signature at byte 0" -- "$nm" eval --model "$tmp/junk.nir"
expect 2 "discretization: unknown discretization 'rk4'" -- "$nm" nir import "$tmp/junk.nir" --discretization rk4
expect 2 "reset expects value, subtract or subtract-delayed" -- "$nm" nir import "$tmp/junk.nir" --reset zero
expect 2 "dt must be between" -- "$nm" nir import "$tmp/junk.nir" --dt 0
expect 2 "FILE, --input, --shape and --out are required" -- "$nm" nir run "$tmp/junk.nir" --out "$tmp/o"
expect 2 "shape expects T,B,N" -- "$nm" nir run "$tmp/junk.nir" --input x --shape 10,2 --out "$tmp/o"
expect 2 "shape expects T,B,N" -- "$nm" nir run "$tmp/junk.nir" --input x --shape 10,a,3 --out "$tmp/o"
expect 2 "model PATH and --out FILE are required" -- "$nm" nir export --model m.nmm
expect 1 "cannot open model" -- "$nm" nir export --model "$tmp/none.nmm" --out "$tmp/x.nir"
nir_ok="$(dirname "$0")/fuzz/corpus/nir/snntorch.nir"
printf 'abcdefgh' > "$tmp/short.f32"
expect 2 "gives 5 values per sample but the graph's input 'input' takes 4" -- "$nm" nir run "$nir_ok" --input "$tmp/short.f32" --shape 3,1,5 --out "$tmp/o"
expect 1 "must hold 12 float32 values (48 bytes) for shape 3,1,4; it is shorter" -- "$nm" nir run "$nir_ok" --input "$tmp/short.f32" --shape 3,1,4 --out "$tmp/o"
expect 1 "cannot open input" -- "$nm" nir run "$nir_ok" --input "$tmp/none.f32" --shape 3,1,4 --out "$tmp/o"
expect 1 "node 'lif1' (LIF): tau 0.001 s is not above dt" -- "$nm" nir import "$nir_ok" --dt 0.01
