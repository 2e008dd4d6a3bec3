"""Run in the backend's test image on the stack's network
(`python3 - URL ORIGIN < ws_ping.py`): opens the websocket at URL as a page
of ORIGIN would, sends a ping and prints the one answer."""

import json
import sys

from websockets.sync.client import connect

url, origin = sys.argv[1:3]
with connect(url, origin=origin, open_timeout=10, close_timeout=2) as socket:
    socket.send(json.dumps({"type": "ping", "echo": "e2e"}))
    print(socket.recv(timeout=10))
