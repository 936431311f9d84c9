"""A webhook receiver for the integration tests, on 127.0.0.1:PORT.

Usage: webhook_receiver.py PORT SECRET ADAPTIVE_CARD_SCHEMA

Every POST is answered 200 and reported as one JSON line on stdout:
{"path", "key" (Idempotency-Key), "signature_ok" (HMAC-SHA256 of the body with SECRET, checked
with Python's hmac, or null when unsigned), "errors" (why the payload is not valid for the path's
format: /slack by Slack's own SDK models, /teams by the published Adaptive Card 1.4 JSON schema and
the Workflows envelope), "body"}. "ready" is printed once it listens.
"""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

PORT, SECRET, SCHEMA_PATH = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
with open(SCHEMA_PATH, encoding="utf-8") as f:
    CARD_SCHEMA = json.load(f)
CARD_VALIDATOR = jsonschema.Draft6Validator(CARD_SCHEMA)


def slack_errors(payload):
    errors = []
    if not isinstance(payload.get("text"), str) or not payload["text"]:
        errors.append("no top-level text (the notification fallback)")
    blocks = payload.get("blocks", [])
    if len(blocks) > 50:
        errors.append(f"{len(blocks)} blocks (at most 50)")
    for raw in blocks:
        block = Block.parse(raw)
        if block is None:
            errors.append(f"unknown block {raw!r}")
            continue
        try:
            block.validate_json()
        except SlackObjectFormationError as e:
            errors.append(f"{raw.get('type')}: {e}")
    return errors


def teams_errors(payload):
    errors = []
    if payload.get("type") != "message":
        errors.append("envelope type is not 'message'")
    attachments = payload.get("attachments") or []
    if len(attachments) != 1:
        errors.append(f"{len(attachments)} attachments (expected 1)")
    for a in attachments:
        if a.get("contentType") != "application/vnd.microsoft.card.adaptive":
            errors.append(f"contentType {a.get('contentType')!r}")
        card = a.get("content", {})
        if card.get("type") != "AdaptiveCard" or card.get("version") != "1.4":
            errors.append("content is not an AdaptiveCard 1.4")
        for e in CARD_VALIDATOR.iter_errors(card):
            errors.append(f"{list(e.path)}: {e.message}")
    return errors


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        sig = self.headers.get("X-Oneonone-Signature")
        if sig is None:
            signature_ok = None
        else:
            expected = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
            signature_ok = hmac.compare_digest(sig, expected)
        try:
            body = json.loads(raw)
        except ValueError as e:
            body, errors = None, [f"not JSON: {e}"]
        else:
            if self.path == "/slack":
                errors = slack_errors(body)
            elif self.path == "/teams":
                errors = teams_errors(body)
            else:
                errors = []
        record = {
            "path": self.path,
            "key": self.headers.get("Idempotency-Key"),
            "signature_ok": signature_ok,
            "errors": errors,
            "body": body,
        }
        print(json.dumps(record), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print("ready", flush=True)
    server.serve_forever()
