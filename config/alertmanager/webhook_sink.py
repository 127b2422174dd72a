"""A stand-in webhook receiver: logs each Alertmanager notification it gets, one line per alert.

The `alert-sink` service of docker-compose.yml runs it so the example stack shows where alerts
go (`docker compose logs -f alert-sink`); the URL path names the receiver (/pager, /ticket).
Standard library only, so it runs in a bare python image.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the health check
        self._reply(200, b"ok\n")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as exc:
            self._reply(400, f"not JSON: {exc}\n".encode())
            return
        for alert in payload.get("alerts", []):
            labels = alert.get("labels", {})
            annotations = alert.get("annotations", {})
            line = {
                "receiver": self.path.strip("/") or "default",
                "status": alert.get("status"),
                "alertname": labels.get("alertname"),
                "severity": labels.get("severity"),
                "monitor": labels.get("monitor"),
                "feature": labels.get("feature"),
                "summary": annotations.get("summary"),
                "dashboard": annotations.get("dashboard"),
            }
            print(json.dumps(line, ensure_ascii=False), flush=True)
        self._reply(200, b"ok\n")

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Access-log lines would drown the alert lines; errors still go to stderr.
        return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port (default %(default)s)")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), _Handler)
    print(f"webhook sink listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
