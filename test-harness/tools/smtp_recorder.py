#!/usr/bin/python3
"""A receiving SMTP server for tests: it stores every message it accepts.

Stands in for a customer's mail server downstream of filterbox. Each accepted
message becomes DIR/NNNNNN.eml (the exact bytes received after the dot-unstuffing
of SMTP) and DIR/NNNNNN.json (sender, recipients, client address). The .json is
written last, so a file that exists means a complete message.

Usage: smtp_recorder.py --listen 127.0.0.1:PORT --dir DIR [--reply-rcpt CODE]
  --tempfail-first N   answer the first N DATA commands with 451 (to test retries)
Recipients whose local part starts with `nobody` are refused with 550 5.1.1.
Runs until killed. Uses aiosmtpd (Debian package python3-aiosmtpd).
"""
import argparse
import asyncio
import itertools
import json
import os
import signal

from aiosmtpd.smtp import SMTP


class Recorder:
    def __init__(self, directory, tempfail_first):
        self.directory = directory
        self.counter = itertools.count(1)
        self.tempfail_left = tempfail_first

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # Like a real mail server, it knows its mailboxes: `nobody...` is not
        # one (filterbox's recipient call-out must hear 550 for it).
        if address.split("@")[0].lower().startswith("nobody"):
            return "550 5.1.1 no such mailbox (test recorder)"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.tempfail_left > 0:
            self.tempfail_left -= 1
            return "451 4.3.0 try again later (test recorder)"
        n = next(self.counter)
        base = os.path.join(self.directory, f"{n:06d}")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "peer": str(session.peer[0]),
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        return f"250 2.0.0 stored as {n:06d}"


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--tempfail-first", type=int, default=0)
    a = p.parse_args()
    host, port = a.listen.rsplit(":", 1)
    os.makedirs(a.dir, exist_ok=True)
    handler = Recorder(a.dir, a.tempfail_first)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="recorder.test", data_size_limit=64 * 1024 * 1024),
        host=host,
        port=int(port),
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"listening on {host}:{port}", flush=True)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
