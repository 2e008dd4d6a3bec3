#!/usr/bin/env bash
# The memory a cold compile of the program takes: `go build` of the program,
# as the Go language host runs it before the first preview or up, with an
# empty Go build cache (the module cache as it is). Samples every process of
# the build 5 times a second and prints the peak of their summed resident
# memory, the packages whose compile took the most, and the time.
#   COMPILE_MEMORY_PACKAGE=./...   what to build (default: the program, .)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
package=${COMPILE_MEMORY_PACKAGE:-.}
work=$(mktemp -d /tmp/compile-memory.XXXXXX)
trap 'rm -rf "$work"' EXIT

cd "$repo"
start=$(date +%s.%N)
GOCACHE=$work/gocache go build -o "$work/program" "$package" &
build=$!

# sample: the summed RSS (KiB) of the build's processes, and each compile's
# RSS by package (-p IMPORTPATH in its arguments).
peak=0
: >"$work/packages"
while kill -0 "$build" 2>/dev/null; do
    total=0
    while read -r pid rss; do
        total=$((total + rss))
        args=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)
        case $args in *"/compile "*)
            pkg=$(sed -n 's/.* -p \([^ ]*\).*/\1/p' <<<"$args")
            [ -z "$pkg" ] || echo "$rss $pkg" >>"$work/packages"
            ;;
        esac
    done < <(ps -o pid=,rss= --ppid "$build" 2>/dev/null; for child in $(pgrep -P "$build" 2>/dev/null); do ps -o pid=,rss= --ppid "$child" 2>/dev/null; done; ps -o pid=,rss= -p "$build" 2>/dev/null)
    [ "$total" -le "$peak" ] || peak=$total
    sleep 0.2
done
wait "$build"
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')

echo "cold go build of $package: ${took}s, $(nproc) cores, peak resident memory of the build's processes $((peak / 1024)) MiB"
echo "the compiles that took the most (peak resident memory, MiB):"
sort -k2,2 -k1,1nr "$work/packages" | awk '!seen[$2]++' | sort -nr | head -5 |
    awk '{ printf "  %5d  %s\n", $1 / 1024, $2 }'
