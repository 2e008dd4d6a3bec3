"""Reading the backend's environment contract.

settings.py reads every variable through one Env, which collects problems
instead of stopping at the first: a misconfigured container says everything
that is wrong with it in one message, each problem naming its variable, as the
Pulumi program does with bad config. Call check() once all are read.

Two kinds of variable:
- required ones identify the deployment (hosts, names, credentials, the secret
  key, the domains): no default could be right, so a missing one is an error;
- the others tune it, and default to the production-robustness guide's value.
"""

import os
import re

from django.core.exceptions import ImproperlyConfigured

# DRF's own rate syntax: a count, a slash, and a period whose first letter is
# s, m, h or d (1000/hour, 60/min, 10/s). DRF itself would only fail at the
# first throttled request; checking here fails at start instead.
_RATE = re.compile(r"^[0-9]+/[smhd][a-z]*$")


class Env:
    def __init__(self, environ=None):
        self._environ = os.environ if environ is None else environ
        self.problems = []
        # Every variable asked for, so tests can hold it to the contract.
        self.names = []

    def _problem(self, name, message):
        self.problems.append(f"{name}: {message}")

    def _raw(self, name, required, allow_empty=False):
        """The variable's text, or None when it is unset (or empty, unless
        allow_empty) and the caller's default applies."""
        self.names.append(name)
        value = self._environ.get(name)
        if value is None or (value == "" and not allow_empty):
            if required:
                what = "is not set" if value is None else "is empty"
                self._problem(name, f"{what}; it is required")
            return None
        return value

    def string(self, name, default="", required=False, allow_empty=False):
        value = self._raw(name, required, allow_empty)
        return default if value is None else value

    def secret(self, name, required=False, allow_empty=False):
        """A credential: the variable NAME, or the content of the file that
        NAME_FILE names (Swarm secrets arrive as files under /run/secrets/,
        never in the environment). Setting both is refused: which one wins
        would be a guess."""
        file_name = f"{name}_FILE"
        path = self._environ.get(file_name)
        if path is None:
            return self.string(name, required=required, allow_empty=allow_empty)
        self.names.append(file_name)
        if self._environ.get(name) is not None:
            self._problem(name, f"is set and so is {file_name}; set one")
            return ""
        try:
            with open(path, encoding="utf-8") as f:
                value = f.read().rstrip("\n")
        except OSError as error:
            self._problem(file_name, f"{path!r} cannot be read: {error.strerror}")
            return ""
        if value == "" and not allow_empty:
            self._problem(file_name, f"{path!r} is empty")
        return value

    def integer(self, name, default=0, required=False, minimum=0, maximum=None):
        value = self._raw(name, required)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self._problem(name, f"{value!r} is not a whole number")
            return default
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            self._problem(name, f"{number} must be {bounds}")
            return default
        return number

    def boolean(self, name, default):
        """True or False, spelled as the contract and the guide's env files
        spell them (any case). Anything else is refused rather than guessed:
        'USE_TLS=yes' must not silently mean False."""
        value = self._raw(name, required=False)
        if value is None:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        self._problem(name, f"{value!r} is not True or False")
        return default

    def csv(self, name, default=(), required=False):
        """A comma-separated list; blanks around items and empty items are dropped."""
        value = self._raw(name, required)
        if value is None:
            return list(default)
        items = [item.strip() for item in value.split(",") if item.strip()]
        if required and not items:
            self._problem(name, f"{value!r} holds no item; it is required")
        return items

    def rate(self, name, default):
        value = self._raw(name, required=False)
        if value is None:
            return default
        if not _RATE.match(value):
            self._problem(name, f"{value!r} is not a DRF rate (examples: 1000/hour, 60/minute, 10/second)")
            return default
        return value

    def check(self):
        """Raise ImproperlyConfigured listing every problem found so far."""
        if self.problems:
            count = len(self.problems)
            raise ImproperlyConfigured(
                f"the backend's environment has {count} problem{'s' if count > 1 else ''}:\n  "
                + "\n  ".join(self.problems)
            )
