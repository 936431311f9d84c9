"""A real SMTP server for the integration tests (aiosmtpd), on 127.0.0.1:PORT.

Usage: smtp_server.py PORT CA_PEM_OUT USER PASSWORD

It makes a throwaway CA (trustme) and a certificate for "localhost", writes the CA to CA_PEM_OUT
(the client trusts it through notify.email.ca_file), requires STARTTLS before AUTH, requires AUTH
(USER / PASSWORD) before MAIL, and prints one JSON line per message it accepts:
{"auth": user, "from": ..., "to": [...], "data": "..."}. "ready" is printed once it listens.
"""
import json
import ssl
import sys
import time

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    port, ca_out, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    ca.cert_pem.write_to_path(ca_out)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(tls)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            record = {
                "auth": session.auth_data if session.authenticated else None,
                "tls": session.ssl is not None,
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
            }
            print(json.dumps(record), flush=True)
            return "250 Message accepted for delivery"

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        tls_context=tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
