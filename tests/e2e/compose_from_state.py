#!/usr/bin/env python3
"""A docker-compose file of the containers a `pulumi up` deployed, for the
side-by-side speed baseline of bench-deploy.sh.

    compose_from_state.py STATE_JSON OUT_DIR [--order program|healthchecks]

STATE_JSON is `pulumi stack export --show-secrets`. Writes OUT_DIR/
docker-compose.yml (the Compose specification, as compose v2 and Debian's
docker-compose 1.29 read it), the files the program uploads into its
containers under OUT_DIR/files (bind-mounted where the program puts them),
and prints one "IMAGE_ID TAG" line per image, which the caller tags so that
the images outlive the stack's destroy.

Each container keeps what the program rendered: image, command, entrypoint,
environment, healthcheck, limits, ulimits, restart policy, stop signal and
timeout, log options, mounts, networks and aliases, published ports and
labels. The order, --order program (the default), is the program's: a
container that depends on another (directly, or through resources that are
not containers) starts once that one is healthy, or, for a one-shot step,
has exited 0. --order healthchecks adds the waits a compose file for these
containers has when it uses compose's own means: whatever logs into
Postgres or Redis (names it in DB_HOST or REDIS_HOST, or shares Postgres's
socket volume) starts once that server's healthcheck passes, where the
program's password step waits for the server itself. Networks and volumes
are the compose project's own, so every run starts from empty volumes, as
the stack's first up does. An input this does not know stops it, so the
baseline never silently drops something the program renders.

The writers of the containers' files (`<container>-files`: created with
start false, never started, the files uploaded through them into volumes
of their own that the container mounts read-only) are no services here:
compose has no upload, and would start them. Their files go, as compose
gives files to a container (its `configs` and `secrets` are bind mounts
too), into a directory of OUT_DIR/files per volume, each file with the
program's mode, and the container bind-mounts that directory where it
mounts the volume, read-only as it does. A container that waited on a
writer waits on what the writer waited on. A file the program uploads into
a container's own layer (the one-shot steps' staged secrets, which the step
empties once copied) is a writable bind mount of one file, with its mode.
"""

import json
import os
import sys

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"

# Inputs that steer the engine or the provider, not the container.
ENGINE_ONLY = {"name", "wait", "waitTimeout", "attach", "logs", "mustRun", "rm", "start",
               "destroyGraceSeconds", "__defaults", "removeVolumes", "containerReadRefreshTimeoutMilliseconds"}


# Inputs whose value compose takes as it is, under its own name.
RENAMED = {"command": "command", "entrypoints": "entrypoint", "envs": "environment", "restart": "restart",
           "stopSignal": "stop_signal", "cpuShares": "cpu_shares", "cpuPeriod": "cpu_period",
           "cpuQuota": "cpu_quota", "cpuSet": "cpuset", "cpus": "cpus", "readOnly": "read_only", "init": "init",
           "user": "user", "workingDir": "working_dir", "hostname": "hostname", "securityOpts": "security_opt",
           "sysctls": "sysctls", "groupAdds": "group_add", "stdinOpen": "stdin_open", "tty": "tty"}


def plain(value):
    """The value with the export's secret envelopes opened."""
    if isinstance(value, dict):
        if "plaintext" in value and len(value) == 2:
            return plain(json.loads(value["plaintext"]))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def literal(value):
    """Every $ kept as is: compose would interpolate it."""
    if isinstance(value, dict):
        return {k: literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal(v) for v in value]
    return value.replace("$", "$$") if isinstance(value, str) else value


def seconds(n):
    return f"{int(n)}s"


def file_mode(upload):
    """The mode the program gives an uploaded file."""
    if upload.get("permissions"):
        return int(upload["permissions"], 8)
    return 0o755 if upload.get("executable") else 0o644


def write_file(path, upload):
    with open(path, "w") as f:
        f.write(upload["content"])
    os.chmod(path, file_mode(upload))


def writer_dirs(containers, files_dir):
    """{volume name: directory}: the files each writer uploads into each of
    its volumes, written into a directory of their own."""
    out = {}
    for r in containers.values():
        inputs = plain(r["inputs"])
        if inputs.get("start", True):
            continue
        for v in inputs.get("volumes", []):
            d = os.path.join(files_dir, v["volumeName"])
            os.makedirs(d, mode=0o755, exist_ok=True)
            os.chmod(d, 0o755)
            for u in inputs.get("uploads", []):
                if os.path.dirname(u["file"]) == v["containerPath"].rstrip("/"):
                    write_file(os.path.join(d, os.path.basename(u["file"])), u)
            out[v["volumeName"]] = d
        placed = {os.path.dirname(u["file"]) for u in inputs.get("uploads", [])}
        if placed - {v["containerPath"].rstrip("/") for v in inputs.get("volumes", [])}:
            raise SystemExit(f"{inputs['name']}: a file outside the writer's volumes is not handled")
    return out


def service(inputs, names, files_dir, key, written):
    svc = {"container_name": inputs["name"]}
    # What the provider filled in with its defaults is Docker's default too.
    defaults = set(inputs.get("__defaults", []))
    for field, value in inputs.items():
        if field in ENGINE_ONLY or field in defaults or value in (None, [], {}, ""):
            continue
        if field in RENAMED:
            svc[RENAMED[field]] = value
        elif field == "image":
            svc["image"] = f"bench/{key}:image"
        elif field == "healthcheck":
            svc["healthcheck"] = {"test": value["tests"]}
            for src, dst in (("interval", "interval"), ("timeout", "timeout"), ("startPeriod", "start_period"),
                             ("startInterval", "start_interval"), ("retries", "retries")):
                if src in value:
                    svc["healthcheck"][dst] = value[src]
        elif field == "memory":
            svc["mem_limit"] = f"{value}m"
        elif field == "memorySwap":
            svc["memswap_limit"] = f"{value}m" if value > 0 else value
        elif field == "memoryReservation":
            svc["mem_reservation"] = f"{value}m"
        elif field == "shmSize":
            svc["shm_size"] = f"{value}m"
        elif field == "maxRetryCount":
            pass  # joined to restart below
        elif field == "stopTimeout":
            svc["stop_grace_period"] = seconds(value)
        elif field == "logDriver":
            svc.setdefault("logging", {})["driver"] = value
        elif field == "logOpts":
            svc.setdefault("logging", {})["options"] = value
        elif field == "labels":
            svc["labels"] = {l["label"]: l["value"] for l in value}
        elif field == "ulimits":
            svc["ulimits"] = {u["name"]: {"soft": u["soft"], "hard": u["hard"]} for u in value}
        elif field == "ports":
            svc["ports"] = [f"{p.get('ip', '0.0.0.0')}:{p['external']}:{p['internal']}/{p.get('protocol', 'tcp')}"
                            for p in value]
        elif field == "networksAdvanced":
            svc["networks"] = {names[n["name"]]: ({"aliases": n["aliases"]} if n.get("aliases") else None)
                               for n in value}
        elif field == "mounts":
            for m in value:
                if m["type"] == "tmpfs":
                    size = m.get("tmpfsOptions", {}).get("sizeBytes")
                    entry = {"type": "tmpfs", "target": m["target"]}
                    if size:
                        entry["tmpfs"] = {"size": size}
                    svc.setdefault("volumes", []).append(entry)
                elif m["type"] == "volume":
                    svc.setdefault("volumes", []).append({"type": "volume", "source": names[m["source"]],
                                                          "target": m["target"],
                                                          "read_only": m.get("readOnly", False)})
                else:
                    raise SystemExit(f"{inputs['name']}: mount type {m['type']} is not handled")
        elif field == "volumes":
            for v in value:
                if v.get("hostPath"):
                    source = {"type": "bind", "source": v["hostPath"]}
                elif v.get("volumeName") in written:
                    source = {"type": "bind", "source": written[v["volumeName"]]}
                else:
                    source = {"type": "volume", "source": names[v["volumeName"]]}
                svc.setdefault("volumes", []).append({**source, "target": v["containerPath"],
                                                      "read_only": v.get("readOnly", False)})
        elif field == "uploads":
            for i, u in enumerate(value):
                local = os.path.join(files_dir, f"{key}-{i}")
                write_file(local, u)
                svc.setdefault("volumes", []).append({"type": "bind", "source": local, "target": u["file"],
                                                      "read_only": False})
        elif field == "tmpfs":
            svc["tmpfs"] = [f"{path}:{opts}" if opts else path for path, opts in value.items()]
        elif field == "networkMode":
            if value != "bridge" or "networksAdvanced" not in inputs:
                svc["network_mode"] = value
        elif field == "capabilities":
            if value.get("adds"):
                svc["cap_add"] = value["adds"]
            if value.get("drops"):
                svc["cap_drop"] = value["drops"]
        else:
            raise SystemExit(f"{inputs['name']}: input {field} = {value!r} is not handled")
    if inputs.get("restart") == "on-failure" and inputs.get("maxRetryCount"):
        svc["restart"] = f"on-failure:{inputs['maxRetryCount']}"
    return svc


def server_clients(containers, keys):
    """(client key, server key) pairs: who logs into Postgres or Redis."""
    by_name = {plain(r["inputs"])["name"]: urn for urn, r in containers.items()}
    pairs = set()
    for urn, r in containers.items():
        inputs = plain(r["inputs"])
        env = dict(e.split("=", 1) for e in inputs.get("envs", []))
        for var in ("DB_HOST", "REDIS_HOST"):
            if env.get(var) in by_name:
                pairs.add((keys[urn], keys[by_name[env[var]]]))
        mine = {v.get("volumeName") for v in inputs.get("volumes", []) if v.get("volumeName")}
        for other, o in containers.items():
            theirs = {v.get("volumeName") for v in plain(o["inputs"]).get("volumes", []) if v.get("volumeName")}
            if other != urn and any(v.endswith("-postgres-socket") for v in mine & theirs) and not plain(o["inputs"]).get("attach"):
                pairs.add((keys[urn], keys[other]))
    return pairs


def main():
    state_path, out_dir = sys.argv[1:3]
    order = sys.argv[sys.argv.index("--order") + 1] if "--order" in sys.argv else "program"
    with open(state_path) as f:
        resources = json.load(f)["deployment"]["resources"]
    by_urn = {r["urn"]: r for r in resources}
    files_dir = os.path.abspath(os.path.join(out_dir, "files"))
    os.makedirs(files_dir, exist_ok=True)

    names = {}  # a network's or volume's Docker name -> its compose key
    doc = {"services": {}, "networks": {}, "volumes": {}}
    for r in resources:
        inputs = plain(r.get("inputs", {}))
        if r["type"] == NETWORK:
            key = f"net-{len(doc['networks'])}"
            names[inputs["name"]] = key
            doc["networks"][key] = {"internal": bool(inputs.get("internal")),
                                    "labels": {l["label"]: l["value"] for l in inputs.get("labels", [])}}
        elif r["type"] == VOLUME:
            key = f"vol-{len(doc['volumes'])}"
            names[inputs["name"]] = key
            doc["volumes"][key] = {"labels": {l["label"]: l["value"] for l in inputs.get("labels", [])}}

    every_container = {r["urn"]: r for r in resources if r["type"] == CONTAINER}
    written = writer_dirs(every_container, files_dir)
    containers = {urn: r for urn, r in every_container.items() if plain(r["inputs"]).get("start", True)}
    keys = {urn: urn.rsplit("::", 1)[1] for urn in containers}
    for volume in written:
        doc["volumes"].pop(names.pop(volume), None)

    def container_deps(urn, seen=None):
        """The containers a resource depends on, through non-containers
        (the writers of files among them)."""
        seen = set() if seen is None else seen
        out = set()
        for dep in by_urn[urn].get("dependencies", []) + list(
                {d for ds in by_urn[urn].get("propertyDependencies", {}).values() for d in ds}):
            if dep in seen or dep not in by_urn:
                continue
            seen.add(dep)
            if dep in containers:
                out.add(dep)
            else:
                out |= container_deps(dep, seen)
        return out

    clients = server_clients(containers, keys)
    for urn, r in containers.items():
        inputs = plain(r["inputs"])
        key = keys[urn]
        svc = service(inputs, names, files_dir, key, written)
        depends = {}
        for dep in sorted(container_deps(urn)):
            dep_inputs = plain(containers[dep]["inputs"])
            if dep_inputs.get("attach"):
                condition = "service_completed_successfully"
            elif dep_inputs.get("healthcheck") and dep_inputs.get("wait", True):
                condition = "service_healthy"
            else:
                condition = "service_started"
            depends[keys[dep]] = {"condition": condition}
        if order == "healthchecks":
            for client, server in clients:
                if client == key:
                    depends[server] = {"condition": "service_healthy"}
        if depends:
            svc["depends_on"] = depends
        doc["services"][key] = svc
        print(f"{plain(r['outputs'])['image']} bench/{key}:image")

    doc["services"] = literal(doc["services"])
    with open(os.path.join(out_dir, "docker-compose.yml"), "w") as f:
        json.dump(doc, f, indent=2)  # JSON is YAML


if __name__ == "__main__":
    main()
