#!/usr/bin/env bash
# neuromorph's two commands (see README.md):
#   bash build.sh demo [demo options]   install what is missing, build, run `neuromorph demo`
#   bash build.sh test                  install what is missing, build, run every test
#                                       (release build, then ASan+UBSan build, then fuzzers)
# Other verbs: build (release build only), deps (install only), bench (build, run benchmarks).
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: the build, the libraries, and the default data set.
DEPS=(build-essential cmake pkg-config libopenblas-openmp-dev libjansson-dev libcairo2-dev fonts-dejavu-core zlib1g-dev libhdf5-dev liblz4-dev libzstd-dev libmetis-dev libopenmpi-dev openmpi-bin jq dataset-fashion-mnist)
# Only the test run needs these: the test framework and clang's libFuzzer.
TEST_DEPS=(libcmocka-dev clang libclang-rt-14-dev)

jobs=$(nproc 2>/dev/null || echo 2)

install_deps() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "build.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when there are none or the install cannot find a package.
    if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then $sudo apt-get update -q; fi
    if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; then
        $sudo apt-get update -q
        $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

# configure_build DIR [cmake options...]
configure_build() {
    local dir=$1
    shift
    mkdir -p "$dir"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; exit 1; }
    cmake --build "$dir" -j "$jobs" -- --no-print-directory
}

verb=${1:-demo}
[ $# -gt 0 ] && shift
case "$verb" in
deps)
    install_deps "${DEPS[@]}" "${TEST_DEPS[@]}"
    ;;
build)
    install_deps "${DEPS[@]}" "${TEST_DEPS[@]}"
    configure_build build
    ;;
demo)
    install_deps "${DEPS[@]}" "${TEST_DEPS[@]}"
    configure_build build
    ./build/neuromorph demo "$@"
    ;;
test)
    install_deps "${DEPS[@]}" "${TEST_DEPS[@]}"
    echo "== release build: every test"
    configure_build build
    (cd build && ctest --output-on-failure)
    echo "== AddressSanitizer + UndefinedBehaviorSanitizer build: every test"
    configure_build build-asan -DNM_SANITIZE=ON -DNM_NATIVE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure)
    echo "== fuzz targets (clang libFuzzer + ASan/UBSan), 20 s each; the NIR corpus replayed"
    CC=clang configure_build build-fuzz -DNM_FUZZ=ON -DNM_SANITIZE=ON -DNM_OPENMP=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
    (cd build-fuzz && ctest --output-on-failure -R '^fuzz_')
    ;;
bench)
    install_deps "${DEPS[@]}" "${TEST_DEPS[@]}"
    configure_build build
    ./build/bench/bench_train "$@"
    ;;
*)
    echo "usage: bash build.sh demo|test|build|deps|bench" >&2
    exit 2
    ;;
esac
