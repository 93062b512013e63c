"""The QGIS network transport behaves like the requests transport against a real loopback server."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.errors import NetworkError
from idf_hr_plugin.core.http import HttpClient, RequestsTransport
from idf_hr_plugin.gis.network import QgisTransport
from tests.servers import Fault, Reply


@pytest.fixture(params=["qgis", "requests"])
def client(request, qgis_app):
    transport = QgisTransport() if request.param == "qgis" else RequestsTransport()
    return HttpClient(transport, timeout=2.0, retries=2, backoff=0.05)


@pytest.fixture
def server(loopback):
    srv = loopback()
    srv.route(r"/ok\.json", lambda req: Reply(200, {"hello": "monde", "accent": "Île-de-France"}))
    srv.route(
        r"/echo",
        lambda req: Reply(200, {"got": req.json(), "ctype": req.headers.get("content-type")}),
        "POST",
    )
    srv.route(r"/slow", lambda req: Reply(200, {"late": True}))
    return srv


def test_get_json_and_post(client, server):
    assert client.get_json(server.url + "/ok.json") == {"hello": "monde", "accent": "Île-de-France"}
    got = client.post_json(server.url + "/echo", {"bbox": [2.3, 48.8, 2.4, 48.9]})
    assert got["got"] == {"bbox": [2.3, 48.8, 2.4, 48.9]}
    assert got["ctype"] == "application/json"
    # QGIS's network manager sets its own user agent (with the user's suffix); requests sends ours
    ua = server.log[0].headers["user-agent"]
    assert ua.startswith("IdF-HR") or "QGIS" in ua


def test_404_says_what_to_do(client, server):
    with pytest.raises(NetworkError) as err:
        client.get(server.url + "/missing.json")
    assert err.value.status == 404
    assert "404" in str(err.value) and "check the URL" in str(err.value)


def test_429_retry_after_then_success(client, server):
    server.fault("/ok.json", Fault("status", 429, times=1, retry_after="1"))
    assert client.get_json(server.url + "/ok.json")["hello"] == "monde"
    assert len([r for r in server.log if r.path == "/ok.json"]) == 2


def test_500_exhausts_retries(client, server):
    server.fault("/ok.json", Fault("status", 503, times=10))
    with pytest.raises(NetworkError) as err:
        client.get(server.url + "/ok.json")
    assert err.value.status == 503
    assert len([r for r in server.log if r.path == "/ok.json"]) == 3  # 1 + 2 retries


def test_timeout_is_reported(client, server):
    client.retries = 0
    client.timeout = 0.5
    server.fault("/slow", Fault("timeout", delay=2.0))
    with pytest.raises(NetworkError) as err:
        client.get(server.url + "/slow")
    assert "did not answer within 0.5 s" in str(err.value)


def test_truncated_body_is_detected(client, server):
    client.retries = 0
    server.fault("/ok.json", Fault("truncate"))
    with pytest.raises(NetworkError) as err:
        client.get(server.url + "/ok.json")
    assert "cut off before the end (received 101 of 100000 bytes)" in str(err.value)


def test_invalid_json_is_reported(client, server):
    server.fault("/ok.json", Fault("invalid"))
    with pytest.raises(NetworkError) as err:
        client.get_json(server.url + "/ok.json")
    assert "valid JSON" in str(err.value)


def test_resumable_download_with_checksum(client, loopback, tmp_path):
    import hashlib

    payload = bytes(range(256)) * 4000  # ~1 MB
    src = tmp_path / "srv"
    src.mkdir()
    (src / "model.onnx").write_bytes(payload)
    srv = loopback(src)
    dest = tmp_path / "out" / "model.onnx"
    # an interrupted earlier run left the first 300 kB
    dest.parent.mkdir()
    (dest.parent / "model.onnx.part").write_bytes(payload[:300_000])
    client.download(
        srv.url + "/model.onnx", dest, sha256=hashlib.sha256(payload).hexdigest(), chunk_size=256_000
    )
    assert dest.read_bytes() == payload
    assert not (dest.parent / "model.onnx.part").exists()
    first_range = [r.headers.get("range") for r in srv.log][0]
    assert first_range == "bytes=300000-555999"

    with pytest.raises(NetworkError) as err:
        client.download(srv.url + "/model.onnx", tmp_path / "bad.onnx", sha256="0" * 64)
    assert "checksum" in str(err.value)
    assert not (tmp_path / "bad.onnx").exists() and not (tmp_path / "bad.onnx.part").exists()


# -- slow, stalled and refused servers: say what happened, within the timeout the user set ----------
class RawServer:
    """A loopback socket server that answers every connection with ``behave(conn)`` (raw bytes)."""

    def __init__(self, behave):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)  # qt6: ok (a Python socket)
        self.connections = 0
        self.behave = behave
        self._conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/data.json"

    def _serve(self):
        import threading

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.recv(65536)
            self.behave(conn)
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self._conns:
            c.close()


@pytest.fixture
def raw_server():
    made = []

    def make(behave):
        made.append(RawServer(behave))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _late(delay):
    def behave(conn):
        import time

        time.sleep(delay)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

    return behave


def _stall(conn):
    import time

    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 400)
    time.sleep(5)


def test_late_server_is_no_answer_within_timeout_without_retrying_past_it(client, raw_server):
    client.timeout, client.retries = 1.0, 3  # the server answers after 3 s
    srv = raw_server(_late(3.0))
    with pytest.raises(NetworkError) as err:
        client.get(srv.url)
    msg = str(err.value)
    assert "did not answer within 1 s: the request was sent but no answer came back" in msg
    assert "Could not connect" not in msg
    # the timeout is a budget for all attempts: no retry once it is spent (4 requests before)
    assert srv.connections == 1


def test_stalled_body_says_it_stopped_mid_answer(client, raw_server):
    client.timeout, client.retries = 1.0, 3
    srv = raw_server(_stall)
    with pytest.raises(NetworkError) as err:
        client.get(srv.url)
    msg = str(err.value)
    assert "started answering, then stopped sending for 1 s" in msg
    # requests reads the body itself and knows how much came; QGIS only reports the announced size
    assert "received 400 of 1000 bytes" in msg or "1000 bytes expected" in msg
    assert srv.connections == 1


def test_refused_connection_is_named_and_retries_are_said(client):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more
    with pytest.raises(NetworkError) as err:
        client.get(f"http://127.0.0.1:{port}/x.json")
    msg = str(err.value)
    assert "the connection was refused" in msg and "3 attempts in" in msg
