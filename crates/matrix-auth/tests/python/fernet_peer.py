"""The Python side of the Fernet interop test (reads JSON on stdin, writes JSON on stdout).

Decrypts the Rust tokens with the Rust key, and encrypts the same plaintexts with a key made
here, plus one token stamped far in the future (no TTL means no clock check).
"""
import json
import sys
import time

from cryptography.fernet import Fernet

request = json.load(sys.stdin)
rust = Fernet(request["rust_key"].encode("utf-8"))
decrypted = [rust.decrypt(token.encode("utf-8")).decode("utf-8") for token in request["rust_tokens"]]

key = Fernet.generate_key().decode()
python = Fernet(key.encode("utf-8"))
tokens = [python.encrypt(text.encode("utf-8")).decode() for text in request["plaintexts"]]
future = python.encrypt_at_time(b"from the future", int(time.time()) + 10**6).decode()

json.dump({"decrypted": decrypted, "python_key": key, "python_tokens": tokens, "future_token": future}, sys.stdout)
