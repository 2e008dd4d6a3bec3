#!/usr/bin/env python3
"""Where a `pulumi preview` spends its time, from its OpenTelemetry spans.

    preview_parts.py TRACE_JSON START END

TRACE_JSON is what `pulumi preview --otel-traces file://TRACE_JSON` wrote;
START and END are the wall-clock times (seconds since the epoch) around the
command. Prints the parts, one a line, in order:

  CLI start            the command's start to the CLI's first span (the
                       process, its flags, the project and the stack);
  language host        the Go language host started and asked what it runs
                       on (About);
  required packages    a second language host asked for the plugins the
                       program needs (GetRequiredPackages: `go list -m`);
  go build             the language host's `go build` to the buildTarget,
                       which finds the binary up to date;
  program start        the binary's start to its first call to the engine;
  program and diffs    its first call to its last: reading the last
                       deployment's outputs, asking the Docker daemon its
                       version, registering every resource, each checked
                       and diffed by its provider (the providers' start
                       and Configure among them, also printed on their own,
                       and the time the program computed with none of its
                       calls to the engine open);
  end                  the program's exit, the plugins stopped, the summary.
"""

import json
import sys


def spans(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            for rs in json.loads(line).get("resourceSpans", []):
                service = next((a["value"].get("stringValue") for a in rs["resource"].get("attributes", [])
                                if a["key"] == "service.name"), "?")
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        out.append({"service": service, "name": sp["name"],
                                    "start": int(sp["startTimeUnixNano"]) / 1e9,
                                    "end": int(sp["endTimeUnixNano"]) / 1e9})
    return sorted(out, key=lambda s: s["start"])


def first(all_spans, service, name):
    return next(s for s in all_spans if s["service"] == service and s["name"] == name)


def main():
    path, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    all_spans = spans(path)
    cli = [s for s in all_spans if s["service"] == "pulumi-cli"]
    root = first(all_spans, "pulumi-cli", "pulumi")
    about = first(all_spans, "pulumi-cli", "pulumirpc.LanguageRuntime/About")
    packages = first(all_spans, "pulumi-cli", "pulumirpc.LanguageRuntime/GetRequiredPackages")
    run = first(all_spans, "pulumi-cli", "pulumirpc.LanguageRuntime/Run")
    # The language host logs "Compiling the program ..." as the build
    # starts and "Finished compiling" as it ends.
    logs = [s for s in cli if s["name"] == "pulumirpc.Engine/Log" and run["start"] <= s["start"] <= run["end"]]
    built = logs[1]["end"] if len(logs) > 1 else run["start"]
    program = [s for s in all_spans if s["service"] == "pulumi-sdk-go"]
    program_start, program_end = program[0]["start"], max(s["end"] for s in program)
    plugins = [s for s in cli if s["name"] == "newPlugin" and program_start <= s["start"] <= program_end]
    configure = [s for s in cli if s["name"] == "pulumirpc.ResourceProvider/Configure"]
    registered = [s for s in program if s["name"] == "pulumirpc.ResourceMonitor/RegisterResource"]
    # The program's own time: while none of its calls to the engine is
    # open, it is computing (or the SDK is scheduling); while one is, it
    # waits on the engine and the providers.
    idle, reach = 0.0, program_start
    for s in program:
        if s["start"] > reach:
            idle += s["start"] - reach
        reach = max(reach, s["end"])
    # Registrations that wait on one another: one that starts as another
    # ends (within 15 ms) is taken to have waited on it; the longest such
    # chain is how many provider round trips the preview waits in a row.
    depth = {}
    for i, s in enumerate(registered):
        before = [depth[j] for j, o in enumerate(registered[:i]) if s["start"] - 0.015 <= o["end"] <= s["start"]]
        depth[i] = 1 + max(before, default=0)
    parts = [
        ("CLI start", root["start"] - start),
        ("language host (About)", about["end"] - root["start"]),
        ("required packages (go list -m)", packages["end"] - about["end"]),
        ("go build, up to date", built - run["start"] + (run["start"] - packages["end"])),
        ("program start", program_start - built),
        (f"program and diffs ({len(registered)} registrations)", program_end - program_start),
        ("end", end - program_end),
    ]
    for name, took in parts:
        print(f"    {name:48s} {took:5.2f}s")
    print(f"    {'total':48s} {end - start:5.2f}s")
    print(f"      (within the program and diffs: {len(plugins)} provider plugins started, "
          f"{sum(s['end'] - s['start'] for s in plugins):.2f}s in all; their Configure "
          f"{sum(s['end'] - s['start'] for s in configure):.2f}s; the program with none of its calls to the "
          f"engine open {idle:.2f}s; the longest chain of registrations each waiting on the one before, "
          f"{max(depth.values(), default=0)})")


if __name__ == "__main__":
    main()
