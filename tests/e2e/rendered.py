#!/usr/bin/env python3
"""Prints what the Pulumi program renders for one container, read from its
golden snapshot (tests/testdata/<stack>.golden.json), so that the end-to-end
test runs the containers as the program would.

    rendered.py GOLDEN CONTAINER FIELD

CONTAINER is the resource name's end (backend-1, postgres, redis). FIELD:
  env           the environment, one NAME=value a line; secrets, which the
                snapshot redacts, are left out
  command       the command, one argument a line
  health-cmd    the healthcheck as one shell command line (docker run's
                --health-cmd always runs through a shell)
"""

import json
import shlex
import sys


def container(golden, name):
    with open(golden) as f:
        for resource in json.load(f):
            if resource["resource"].endswith("docker:index/container:Container::" + name):
                return resource["inputs"]
    sys.exit(f"rendered.py: {golden} has no container {name}")


def main(golden, name, field):
    inputs = container(golden, name)
    if field == "env":
        lines = [entry for entry in inputs.get("envs", []) if entry != "[secret]"]
    elif field == "command":
        lines = inputs.get("command", [])
    elif field == "health-cmd":
        kind, *test = inputs["healthcheck"]["tests"]
        lines = [shlex.join(test) if kind == "CMD" else test[0]]
    else:
        sys.exit(f"rendered.py: unknown field {field}")
    for line in lines:
        if "\n" in line:
            sys.exit(f"rendered.py: {name} {field} has a line break, which this format cannot carry")
        print(line)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
