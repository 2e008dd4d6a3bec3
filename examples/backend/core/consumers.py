from channels.generic.websocket import AsyncJsonWebsocketConsumer


class PingConsumer(AsyncJsonWebsocketConsumer):
    """Answers {"type": "ping"} with {"type": "pong"} by way of the channel
    layer: the message goes through Redis, encrypted, to this consumer's own
    channel and back, so a pong proves the layer works, not only the socket."""

    async def receive_json(self, content):
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_json({"type": "error", "error": 'send {"type": "ping"}'})
            return
        await self.channel_layer.send(self.channel_name, {"type": "pong", "echo": content.get("echo")})

    async def pong(self, event):
        await self.send_json({"type": "pong", "echo": event.get("echo"), "via": "channel layer"})
