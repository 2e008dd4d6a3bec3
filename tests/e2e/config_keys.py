"""config_keys.py SHIPPED COPY: how a stack's config file differs from the
shipped one, key by key: each key path that is new (+), changed (*) or gone
(-), sorted, on one line. A list counts as one value (host.sshOpts, domains);
a secure value is compared as the key it sets, not by its ciphertext.
The project's name prefix (django-stack:) is left out."""

import sys

import yaml


def leaves(config, path=""):
    if isinstance(config, dict) and not (set(config) == {"secure"}):
        for key, value in config.items():
            yield from leaves(value, f"{path}.{key}" if path else key)
    else:
        yield path, config


def flat(file):
    with open(file) as f:
        config = (yaml.safe_load(f) or {}).get("config") or {}
    out = {}
    for key, value in config.items():
        name = key.split(":", 1)[1] if key.startswith("django-stack:") else key
        out.update(leaves(value, name))
    return out


shipped, copy = flat(sys.argv[1]), flat(sys.argv[2])
changes = []
for key in sorted(set(shipped) | set(copy)):
    if key not in copy:
        changes.append(key + "-")
    elif key not in shipped:
        changes.append(key + "+")
    elif shipped[key] != copy[key] and not isinstance(copy[key], dict):
        changes.append(key + "*")
print(" ".join(changes))
