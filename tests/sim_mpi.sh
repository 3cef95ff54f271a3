#!/bin/sh
# The simulator over MPI: a Brunel network run with 1 and 2 ranks (and 2 threads) must give
# the same spikes, byte for byte. Skipped (exit 77) where mpirun or MPI support is missing.
nm=$1
tmp=$2
net=$3
command -v mpirun >/dev/null 2>&1 || { echo "mpirun not found: skipped"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$tmp"
set -e
"$nm" sim "$net" --time 200 --threads 1 --quiet --spikes "$tmp/mpi_ref.csv" --json "$tmp/mpi_ref.json" >/dev/null
mpirun -np 1 "$nm" sim "$net" --time 200 --threads 1 --quiet --spikes "$tmp/mpi_1.csv" --json "$tmp/mpi_1.json" >/dev/null
mpirun -np 2 "$nm" sim "$net" --time 200 --threads 1 --quiet --spikes "$tmp/mpi_2.csv" --json "$tmp/mpi_2.json" >/dev/null
mpirun -np 2 "$nm" sim "$net" --time 200 --threads 2 --quiet --spikes "$tmp/mpi_2t.csv" >/dev/null
grep -q '"ranks": 2' "$tmp/mpi_2.json" || { echo "the 2-rank run did not run on 2 ranks (built without MPI?)"; exit 1; }
n=$(wc -l < "$tmp/mpi_ref.csv")
[ "$n" -gt 1000 ] || { echo "too few spikes: $n"; exit 1; }
for f in mpi_1 mpi_2 mpi_2t; do
    cmp "$tmp/mpi_ref.csv" "$tmp/$f.csv" || { echo "$f.csv differs from the single-process run"; exit 1; }
done
echo "identical spikes ($n lines) for 1 process, 1 rank, 2 ranks, 2 ranks x 2 threads"
