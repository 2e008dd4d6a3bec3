#!/usr/bin/env python3
"""Prints what the Pulumi program renders for one container, read from its
golden snapshot (tests/testdata/<stack>.golden.json), so that the end-to-end
test runs the containers as the program would.

    rendered.py GOLDEN CONTAINER FIELD

CONTAINER is the container's role (backend-1, migrate, postgres, redis): the
resource name's end, where a backend replica's name also carries the digest
of its spec (backend-<digest>-1) and the migration step's the digest of its
image and script (backend-migrate-<digest>). FIELD:
  env           the environment, one NAME=value a line; secrets, which the
                snapshot redacts, are left out
  command       the command, one argument a line
  health-cmd    the healthcheck as one shell command line (docker run's
                --health-cmd always runs through a shell)
  script        the migration step's shell script, as it is (it runs with
                the entrypoint /bin/sh -c, after the lines that move its
                secret files into place)
  stop-timeout  the seconds Docker waits after the stop signal before it
                kills the container
"""

import json
import re
import shlex
import sys


def container(golden, name):
    replica = re.fullmatch(r"backend-([0-9]+)", name)
    if replica:
        pattern = rf"backend-[0-9a-zA-Z]+-{replica[1]}"
    elif name == "migrate":
        pattern = r"backend-migrate-[0-9a-zA-Z]+"
    else:
        pattern = re.escape(name)
    role = re.compile(r"docker:index/container:Container::" + pattern + "$")
    with open(golden) as f:
        for resource in json.load(f):
            if role.search(resource["resource"]):
                return resource["inputs"]
    sys.exit(f"rendered.py: {golden} has no container {name}")


def main(golden, name, field):
    inputs = container(golden, name)
    if field == "env":
        lines = [entry for entry in inputs.get("envs", []) if entry != "[secret]"]
    elif field == "command":
        lines = inputs.get("command", [])
    elif field == "script":
        # A job with secret files runs its own entrypoint under the few
        # lines that move those files into place (runtime.jobSecretsScript):
        # /bin/sh -c <that> job-secrets /bin/sh -c.
        entrypoints = inputs.get("entrypoints") or []
        if entrypoints[3:4] == ["job-secrets"]:
            entrypoints = entrypoints[4:]
        if entrypoints != ["/bin/sh", "-c"] or len(inputs.get("command", [])) != 1:
            sys.exit(f"rendered.py: {name} is not a /bin/sh -c script")
        sys.stdout.write(inputs["command"][0])
        return
    elif field == "stop-timeout":
        lines = [str(inputs["stopTimeout"])]
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
