"""A real SMTP server on loopback for the tests: Python 3.11's standard-library smtpd, writing each
message it accepts to a file in a folder (one .eml per message), so a test can read what was sent.
Usage: python3 smtp_sink.py PORT FOLDER"""
import asyncore
import os
import smtpd
import sys
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)


class Sink(smtpd.SMTPServer):
    count = 0

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        Sink.count += 1
        name = os.path.join(sys.argv[2], f"{os.getpid()}-{Sink.count:05d}.eml")
        with open(name + ".tmp", "wb") as out:
            out.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        os.rename(name + ".tmp", name)
        return None


Sink(("127.0.0.1", int(sys.argv[1])), None, decode_data=False)
print("ready", flush=True)
asyncore.loop()
