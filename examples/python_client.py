#!/usr/bin/env python3
"""The blindml server's wire protocol from Python, standard library only (docs/server.md).

The cryptography stays in the `blindml` command; this script only moves bytes:

    python3 examples/python_client.py --url http://127.0.0.1:8000 get-client   # -> client.zip
    blindml keygen client.zip --out keys                                        # keys/evaluation.keys
    python3 examples/python_client.py add-key keys/evaluation.keys              # -> uid.txt
    blindml encrypt client.zip --keys keys --input rows.csv --out input.ct
    python3 examples/python_client.py compute input.ct --out output.ct          # uses uid.txt
    blindml decrypt client.zip --keys keys --input output.ct

With BLINDML_SERVE_TOKEN set, the token is sent as "Authorization: Bearer <token>".
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def call(url, method="GET", body=None, content_type=None):
    """One request; returns the answer's bytes, or exits with the server's JSON error."""
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    token = os.environ.get("BLINDML_SERVE_TOKEN")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read())["error"]
        except Exception:
            message = e.reason
        sys.exit(f"{method} {url}: HTTP {e.code}: {message}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the server (default %(default)s)")
    sub = p.add_subparsers(dest="step", required=True)
    g = sub.add_parser("get-client", help="GET /get_client: save client.zip")
    g.add_argument("--out", default="client.zip")
    a = sub.add_parser("add-key", help="POST /add_key: upload evaluation.keys, save the uid")
    a.add_argument("keys", help="evaluation.keys written by `blindml keygen`")
    a.add_argument("--uid-file", default="uid.txt")
    c = sub.add_parser("compute", help="POST /compute?uid=: send input.ct, save the encrypted answer")
    c.add_argument("input", help="the file written by `blindml encrypt`")
    c.add_argument("--uid", help="the client id (default: read from --uid-file)")
    c.add_argument("--uid-file", default="uid.txt")
    c.add_argument("--out", default="output.ct", help="for `blindml decrypt --input`")
    args = p.parse_args()
    base = args.url.rstrip("/")

    if args.step == "get-client":
        # The client specs (client.zip), as application/zip.
        with open(args.out, "wb") as f:
            f.write(call(base + "/get_client"))
        print(f"saved {args.out}")
    elif args.step == "add-key":
        # The raw form: the keys as the body, application/octet-stream. (Concrete ML's clients send
        # a multipart field `key` instead; the server takes both.) The answer is {"uid": "..."}.
        with open(args.keys, "rb") as f:
            keys = f.read()
        uid = json.loads(call(base + "/add_key", "POST", keys, "application/octet-stream"))["uid"]
        with open(args.uid_file, "w") as f:
            f.write(uid + "\n")
        print(f"uid {uid} (saved in {args.uid_file})")
    else:
        # The raw form: the encrypted input as the body, the uid in the query string. The answer is
        # the encrypted output, application/octet-stream: the bytes `blindml decrypt` reads.
        uid = args.uid
        if uid is None:
            with open(args.uid_file) as f:
                uid = f.read().strip()
        with open(args.input, "rb") as f:
            data = f.read()
        query = urllib.parse.urlencode({"uid": uid})
        answer = call(f"{base}/compute?{query}", "POST", data, "application/octet-stream")
        with open(args.out, "wb") as f:
            f.write(answer)
        print(f"saved {args.out} ({len(answer)} bytes); decrypt with: blindml decrypt client.zip --keys keys --input {args.out}")


if __name__ == "__main__":
    main()
