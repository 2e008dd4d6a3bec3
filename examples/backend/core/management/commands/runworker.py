"""`manage.py runworker CHANNEL...`: Channels' runworker command (same
arguments), running core.worker.Worker, which stops cleanly on SIGTERM,
writes a heartbeat for the healthcheck and rides out a Redis outage.

"channels" is not in INSTALLED_APPS (Channels 4 needs it there only for
this command, and uvicorn serves the websockets), so this is the only
runworker there is; were it added, it must come after "core", as Django
takes a command from the first app that has it.
"""

import sys

from channels.layers import get_channel_layer
from channels.management.commands import runworker
from channels.routing import get_default_application
from django.core.management import CommandError

from core import worker


class Command(runworker.Command):
    help = "Runs a Channels worker on the named channels (e.g. `runworker tasks`) until SIGTERM."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--heartbeat-file",
            default=worker.HEARTBEAT_FILE,
            help=f"The file the worker replaces every {worker.HEARTBEAT_SECONDS:g} s, which docker/worker_health.py "
            f"reads (default {worker.HEARTBEAT_FILE}).",
        )

    def handle(self, *args, **options):
        channel_layer = get_channel_layer(options["layer"])
        if channel_layer is None:
            raise CommandError("You do not have any CHANNEL_LAYERS configured.")
        code = worker.Worker(
            application=get_default_application(),
            channels=options["channels"],
            channel_layer=channel_layer,
            heartbeat_file=options["heartbeat_file"],
        ).run()
        # 128 + the signal that stopped it, as serve.py exits.
        sys.exit(code)
