# network description files given to `neuromorph sim` (sourced by cli_errors.sh: $nm, $tmp and
# expect are set). The library's own tests (test_sim_spec) cover every rule; these check that
# the CLI passes the reader's one line through with exit status 1.
printf '{"populations": [{"name": "E", "model": "lif_delta", "size": 3}], "projections": [{"from": "E", "to": "E", "rule": "all_to_all", "weight": 1, "delay": 0.05}]}' >"$tmp/net_delay.json"
expect 1 "net_delay.json: projection 'E->E': delay 0.05 ms is below dt (0.1 ms)" -- "$nm" sim "$tmp/net_delay.json"
printf '{"populations": [{"name": "E", "model": "lif_delta", "size": 3}], "projections": [{"from": "E", "to": "E", "rule": "all_to_all", "wieght": 1}]}' >"$tmp/net_key.json"
expect 1 "net_key.json: projection 'E->E': unknown key 'wieght'" -- "$nm" sim "$tmp/net_key.json"
printf '{"populations": [{"name": "E", "model": "lif_delta", "size": 3}], "monitors": [{"kind": "spikes", "population": "X"}]}' >"$tmp/net_pop.json"
expect 1 "net_pop.json: monitors\[0\]: unknown population 'X'" -- "$nm" sim "$tmp/net_pop.json"
printf '{"populations": [{"name": "E", "model": "lif_de' >"$tmp/net_cut.json"
expect 1 "net_cut.json: not valid JSON at line 1, column 47 (byte 47): premature end of input" -- "$nm" sim "$tmp/net_cut.json"
expect 1 "cannot open network description '$tmp/net_none.json'" -- "$nm" sim "$tmp/net_none.json"
