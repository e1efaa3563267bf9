"""Real HTTP servers on loopback for tests: a thread running a WSGI app with werkzeug."""
from __future__ import annotations

import threading

from werkzeug.serving import make_server


class LoopbackServer:
    def __init__(self, wsgi_app) -> None:
        self.server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
