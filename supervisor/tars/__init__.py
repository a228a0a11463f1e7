"""Tars: the wire codec, the server conf and its overlay on the config (`settings`), a node
client and a stand-in node, and the keepalive reporter with the master-side liveness helper.

May import `errors`, `wire`, `config`, `pool`, `worker`, `lifecycle`.
"""
