# neuromorph events (sourced by cli_errors.sh: $nm, $tmp and expect are set).
printf 'hello world' > "$tmp/ev_junk.bin"
printf '\003\004\200\000\001\005\006' > "$tmp/ev_cut.bin"
printf '%% evt 3.0\n%% format EVT3;height=4;width=8\n%% end\n\001\000\011\040' > "$tmp/ev_oos.raw"
printf '#!AER-DAT3.1\r\n#!END-HEADER\r\n\001\000\001\000\010\000\000\000\004\000\000\000\000\000\000\000\011\000\000\000\011\000\000\000\011\000\000\000' > "$tmp/ev_pkt.aedat"
expect 2 "unknown subcommand 'frob'" -- "$nm" events frob
expect 2 "needs a subcommand: info, convert, frames or emulate" -- "$nm" events
expect 2 "needs a FILE" -- "$nm" events info
expect 2 "unknown option '--bogus'" -- "$nm" events info "$tmp/ev_junk.bin" --bogus
expect 1 "'$tmp/nowhere.raw' does not exist" -- "$nm" events info "$tmp/nowhere.raw"
expect 1 "'$tmp/ev_junk.bin' is not a known event file" -- "$nm" events info "$tmp/ev_junk.bin"
expect 1 "unknown event format 'evt9'" -- "$nm" events info "$tmp/ev_junk.bin" --format evt9
expect 1 "'$tmp/ev_cut.bin': file is truncated: 3 of the 5 bytes of the next nmnist unit are missing at byte 5" -- "$nm" events info "$tmp/ev_cut.bin" --format nmnist
expect 1 "outside the 8x4 sensor" -- "$nm" events info "$tmp/ev_oos.raw"
expect 1 "AEDAT 3.1 packet claims 9 events of 8 bytes" -- "$nm" events info "$tmp/ev_pkt.aedat"
expect 1 "unknown AEDAT 2.0 layout 'dvs256'" -- "$nm" events info "$tmp/ev_junk.bin" --layout dvs256
expect 2 "width and --height go together" -- "$nm" events info "$tmp/ev_junk.bin" --width 34
expect 2 "needs --to FMT" -- "$nm" events convert "$tmp/ev_cut.bin" "$tmp/ev_out.raw"
expect 1 "writing shd files is not supported" -- "$nm" events convert "$tmp/ev_oos.raw" "$tmp/ev_out.h5" --to shd
expect 2 "crop expects X,Y,W,H (X, Y >= 0; W, H >= 1), got '1,2'" -- "$nm" events convert "$tmp/ev_cut.bin" "$tmp/ev_out.raw" --to evt3 --format nmnist --crop 1,2
expect 2 "needs --out DIR" -- "$nm" events frames "$tmp/ev_junk.bin"
expect 2 "give one of --window, --count, --slices" -- "$nm" events frames "$tmp/ev_junk.bin" --out "$tmp/fr" --window 10 --count 5
expect 2 "drop must be between 0 and 1" -- "$nm" events convert a b --to evt3 --drop 2
expect 2 "needs --out DIR" -- "$nm" events emulate
expect 1 "data directory '$tmp/nowhere' does not exist" -- "$nm" events emulate --data "$tmp/nowhere" --out "$tmp/evds"
expect 2 "threshold must be between" -- "$nm" events emulate --out "$tmp/evds" --threshold 0
# a tiny idx set (two 2x2 images), emulated, then trained on without --encoding frames
mkdir -p "$tmp/evsrc"
for split in train t10k; do
    printf '\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\002\000\377\200\000\377\377\000\000' > "$tmp/evsrc/$split-images-idx3-ubyte"
    printf '\000\000\010\001\000\000\000\002\000\001' > "$tmp/evsrc/$split-labels-idx1-ubyte"
done
"$nm" events emulate --data "$tmp/evsrc" --out "$tmp/evset" --quiet >/dev/null 2>&1
expect 1 "holds 10 frames per sample (an event dataset): train it with --encoding frames --steps 10" -- "$nm" train --data "$tmp/evset" --quiet --epochs 1 --arch 128-4-2
expect 1 "encoding frames needs a set of 25 frames" -- "$nm" train --data "$tmp/evset" --quiet --epochs 1 --arch 128-4-2 --encoding frames
expect 1 "has 2x8x8 = 128 inputs per sample but the model's input takes 64" -- "$nm" train --data "$tmp/evset" --quiet --epochs 1 --arch 64-4-2 --encoding frames --steps 10
