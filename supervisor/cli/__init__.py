"""The command line: `supervisor run|start|stop|status|...`, daemonising, text rendering, and
the Tars platform's `python -m supervisor --config=CONF` entry. The top of the layer order:
it may import anything, nothing imports it.
"""
