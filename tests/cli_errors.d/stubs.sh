# Commands' method dispatch (sourced by cli_errors.sh: $nm, $tmp and expect are set).
expect 2 "demo trains with bptt only" -- "$nm" demo --method stdp
