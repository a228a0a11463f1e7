"""Talking to a Tars node: the wire codec, the server conf, a node client and a stand-in node.

The master reports liveness to the node through `supervisor.keepalive`; these modules are the
pieces it is built from, each usable and testable on its own.
"""
