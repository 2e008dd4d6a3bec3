#!/usr/bin/env python3
"""Summarises a `pulumi up --event-log FILE` run: when each step of the
update began and ended, grouped into the phases of a first deploy.

    events.py EVENT_LOG          prints one line per phase: start, end, seconds
    events.py EVENT_LOG --steps  prints every resource step instead
    events.py EVENT_LOG --release START
                                 a backend release's parts, START being the
                                 epoch second at which `pulumi up` began

A phase runs from the first of its steps' start to the last one's end, in
seconds after the update's first event (the engine stamps events in whole
seconds). The phases, by resource:
  images     the pulled images and the backend's build
  postgres   the Postgres container (created, then waited healthy)
  password   the step that sets the stack's password in the cluster
  migration  the migration step's one-shot container
  backend    the backend containers (created, waited healthy)
  the rest   everything else: Redis, nginx, Traefik, networks, volumes...
"""

import json
import re
import sys

PHASES = [
    ("images", lambda t, n: t in ("docker:index/remoteImage:RemoteImage", "docker:index/image:Image")),
    ("postgres", lambda t, n: t == "docker:index/container:Container" and n == "postgres"),
    ("password", lambda t, n: t == "docker:index/container:Container" and re.fullmatch(r"postgres-password-[\w-]+", n)),
    ("migration", lambda t, n: t == "docker:index/container:Container" and re.fullmatch(r"backend-migrate-\w+", n)),
    ("backend", lambda t, n: t == "docker:index/container:Container" and re.fullmatch(r"backend-\w+-\d+", n)),
]


def steps(path):
    """(type, name, op, start, end) of each resource step, in seconds."""
    began, out, first = {}, [], None
    with open(path) as f:
        for line in f:
            event = json.loads(line)
            stamp = event.get("timestamp")
            if first is None and stamp is not None:
                first = stamp
            for kind in ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent"):
                if kind not in event:
                    continue
                meta = event[kind]["metadata"]
                if meta["op"] in ("same", "read"):
                    continue
                urn = meta["urn"]
                if kind == "resourcePreEvent":
                    began[urn] = stamp
                elif urn in began:
                    name = urn.rsplit("::", 1)[1]
                    out.append((meta["type"], name, meta["op"], began.pop(urn) - first, stamp - first))
    return out, first


def last_stamp(path):
    with open(path) as f:
        return max(json.loads(line).get("timestamp") or 0 for line in f)


def release_parts(all_steps, first, start, path):
    """The parts of `pulumi up` -> new backend healthy: the CLI, program and
    diff before the first step; the steps before the new backend's; the new
    backend, created and waited healthy (create-before-delete); then what
    follows (the old backend's drain and removal, Traefik's view)."""
    backends = [s for s in all_steps if phase_of(s[0], s[1]) == "backend"]
    created = [s for s in backends if s[2] in ("create", "create-replacement")]
    if not created:
        print("  no backend was created")
        return
    new_start = min(s[3] for s in created)
    new_end = max(s[4] for s in created)
    before = [s for s in all_steps if s[4] <= new_start]
    lead = first - start
    print(f"  up -> new backend healthy: {lead + new_end:.0f}s")
    print(f"    before the first step (CLI, plugins, program, diff): {lead + min(s[3] for s in all_steps):.0f}s")
    print(f"    steps before the backend ({', '.join(sorted({s[1] for s in before})) or 'none'}): {new_start - min(s[3] for s in all_steps)}s")
    print(f"    the new backend, created -> healthy: {new_end - new_start}s")
    print(f"    after it (old backend drained and removed, the rest): {last_stamp(path) - first - new_end}s")


def phase_of(typ, name):
    for phase, match in PHASES:
        if match(typ, name):
            return phase
    return "the rest"


def main():
    path = sys.argv[1]
    all_steps, first = steps(path)
    if "--release" in sys.argv:
        release_parts(all_steps, first, float(sys.argv[sys.argv.index("--release") + 1]), path)
        return
    if "--steps" in sys.argv:
        for typ, name, op, start, end in sorted(all_steps, key=lambda s: (s[3], s[4])):
            print(f"  {start:4d}s {end:4d}s  {op:8} {typ.split(':')[-1]:16} {name}")
        return
    phases = {}
    for typ, name, _, start, end in all_steps:
        p = phase_of(typ, name)
        s, e = phases.get(p, (start, end))
        phases[p] = (min(s, start), max(e, end))
    for phase in [p for p, _ in PHASES] + ["the rest"]:
        if phase in phases:
            s, e = phases[phase]
            print(f"  {phase:10} {s:4d}s -> {e:4d}s  ({e - s}s)")


if __name__ == "__main__":
    main()
