"""A client of `blindml serve` (docs/server.md), on the standard library (urllib).

    from blindml.http import Client
    server = Client("http://127.0.0.1:8000")
    open("client.zip", "wb").write(server.get_client())
    uid = server.add_key(fhe_client.get_serialized_evaluation_keys())     # once per client
    answer = server.compute(fhe_client.quantize_encrypt_serialize(X))     # uses that uid

A non-2xx answer raises the exception class of its status, carrying the server's
{"error": "..."} message: 400 / 409 / 415 InvalidArgumentError, 404 NotFoundError, 413 / 503
ResourceExhaustedError, others (401, 500, ...) BlindmlIOError; a connection failure is a
BlindmlIOError too. Each exception has `status` (the HTTP status, 0 for a transport failure).

Thread safety: a Client holds no connection between calls; share it between threads freely
(its uid is set once by add_key).
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request

from .errors import BlindmlIOError, InvalidArgumentError, NotFoundError, ResourceExhaustedError

_STATUS_ERRORS = {400: InvalidArgumentError, 409: InvalidArgumentError, 415: InvalidArgumentError,
                  404: NotFoundError, 413: ResourceExhaustedError, 503: ResourceExhaustedError}


def _error(status, message):
    cls = _STATUS_ERRORS.get(status, BlindmlIOError)
    e = cls(message)
    e.status = status
    return e


def _too_big(message):
    e = ResourceExhaustedError(message)
    e.status = 200
    return e


class Client:
    """url: "http://host:port" (https works too, verified with the system's CA store or cafile);
    token: a bearer token for servers started with BLINDML_SERVE_TOKEN (default: that variable);
    max_response: the most bytes read from one answer (ResourceExhaustedError beyond)."""

    def __init__(self, url, timeout=600, token=None, cafile=None, max_response=1 << 30):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidArgumentError("url %r: expected http://host:port or https://host:port" % (url,))
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.token = token if token is not None else os.environ.get("BLINDML_SERVE_TOKEN") or None
        self.uid = None
        self.max_response = int(max_response)  # bytes read from one answer at most
        self._context = None
        if cafile is not None:
            import ssl
            self._context = ssl.create_default_context(cafile=cafile)

    def _request(self, method, path, body=None, content_type=None):
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._context) as resp:
                declared = resp.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_response:
                    raise _too_big("%s %s: the answer is %s bytes, over max_response=%d"
                                   % (method, path.split("?")[0], declared, self.max_response))
                body = resp.read(self.max_response + 1)
                if len(body) > self.max_response:
                    raise _too_big("%s %s: the answer is over max_response=%d bytes"
                                   % (method, path.split("?")[0], self.max_response))
                return body
        except urllib.error.HTTPError as e:
            raw = e.read(64 * 1024)
            try:
                message = json.loads(raw)["error"]
            except Exception:
                message = raw.decode("utf-8", "replace")[:200] or e.reason
            raise _error(e.code, "%s %s: HTTP %d: %s" % (method, path.split("?")[0], e.code, message)) from None
        except BlindmlIOError:
            raise
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise _error(0, "%s %s%s: %s" % (method, self.url, path.split("?")[0], reason)) from None

    def get_client(self):
        """GET /get_client: the bytes of client.zip."""
        return self._request("GET", "/get_client")

    def add_key(self, evaluation_keys):
        """POST /add_key: uploads the evaluation keys (once per client) and returns the uid, also
        kept as self.uid for compute()."""
        body = bytes(evaluation_keys)
        answer = json.loads(self._request("POST", "/add_key", body, "application/octet-stream"))
        self.uid = answer["uid"]
        return self.uid

    def compute(self, encrypted_input, uid=None):
        """POST /compute?uid=...: the encrypted answer (bytes) to an encrypted input."""
        uid = uid or self.uid
        if not uid:
            raise InvalidArgumentError("compute: no uid; call add_key() first or pass uid=")
        query = urllib.parse.urlencode({"uid": uid})
        return self._request("POST", "/compute?" + query, bytes(encrypted_input), "application/octet-stream")

    def delete_key(self, uid=None):
        """DELETE /keys/{uid}: removes the client's keys from the server."""
        uid = uid or self.uid
        if not uid:
            raise InvalidArgumentError("delete_key: no uid")
        self._request("DELETE", "/keys/" + urllib.parse.quote(uid))
        if uid == self.uid:
            self.uid = None

    def info(self):
        """GET /info: the model (model_id, shapes, PBS per row, versions) as a dict."""
        return json.loads(self._request("GET", "/info"))

    def health(self):
        """GET /health: True when the server answers."""
        return json.loads(self._request("GET", "/health")).get("status") == "ok"


__all__ = ["Client"]
