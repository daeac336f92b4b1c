"""The PyPI `pusher` server SDK against the real switchboard binary (run by
crates/server/tests/pusher_sdks.rs): trigger, trigger_batch, channels_info, channel_info,
users_info, and the refusals it must surface. Exits non-zero at the first failed check.

usage: python3 host.py SWITCHBOARD_PORT APP_ID APP_KEY APP_SECRET
"""
import sys

import pusher
from pusher.errors import PusherBadAuth, PusherForbidden, PusherBadRequest

port, app_id, key, secret = sys.argv[1:5]
client = pusher.Pusher(app_id=app_id, key=key, secret=secret, host="127.0.0.1", port=int(port), ssl=False)

assert client.trigger("news", "py-event", {"from": "python", "n": 1}) == {}
assert client.trigger_batch([{"channel": "news", "name": "py-event", "data": {"from": "python", "n": 2}}]) == {}
listed = client.channels_info(prefix_filter="news")
assert listed == {"channels": {"news": {}}}, listed
info = client.channel_info("news", ["subscription_count"])
assert info == {"occupied": True, "subscription_count": 1}, info
assert client.users_info("presence-nobody") == {"users": []}

def refused(error_type, call):
    try:
        call()
    except error_type:
        return
    raise AssertionError(f"expected {error_type.__name__}")

refused(PusherForbidden, lambda: client.trigger("private-profile.3", "Forged", {}))
refused(PusherBadRequest, lambda: client.trigger("news", "pusher:error", {}))
wrong = pusher.Pusher(app_id=app_id, key=key, secret="not-the-secret", host="127.0.0.1", port=int(port), ssl=False)
refused(PusherBadAuth, lambda: wrong.trigger("news", "Forged", {}))
print("python ok")
