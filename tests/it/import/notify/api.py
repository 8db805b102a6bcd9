#!/usr/bin/env python3
# Stands in for the orders API in rinit's tests: tells the supervisor it is
# ready through $NOTIFY_SOCKET (sd_notify), then serves until SIGINT.
import os
import signal
import socket
import sys

signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
address = os.environ["NOTIFY_SOCKET"]
if address.startswith("@"):
    address = "\0" + address[1:]
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
    sock.connect(address)
    sock.sendall(b"READY=1\nSTATUS=listening on port " + sys.argv[2].encode())
while True:
    signal.pause()
