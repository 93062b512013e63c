"""HTTP transport over QGIS's network stack, so proxies, SSL settings and ``authcfg`` apply."""

from __future__ import annotations

from typing import Mapping

from qgis.core import QgsBlockingNetworkRequest
from qgis.PyQt.QtCore import QByteArray, QUrl
from qgis.PyQt.QtNetwork import QNetworkReply, QNetworkRequest

from ..core.http import (
    HttpClient,
    HttpResponse,
    TransportError,
    check_complete,
    connection_reason,
    content_length,
)


class QgisTransport:
    """Implements :class:`core.http.Transport` with ``QgsBlockingNetworkRequest`` (thread-safe)."""

    def __init__(self, authcfg: str = "") -> None:
        self.authcfg = authcfg

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> HttpResponse:
        req = QNetworkRequest(QUrl(url))
        for key, value in headers.items():
            req.setRawHeader(key.encode("latin-1"), value.encode("latin-1"))
        # the core has its own caches; QGIS's HTTP cache could hand back a stale body (e.g. a cached
        # 200 while the server now answers 503)
        req.setAttribute(
            QNetworkRequest.Attribute.CacheLoadControlAttribute,
            QNetworkRequest.CacheLoadControl.AlwaysNetwork,
        )
        if hasattr(req, "setTransferTimeout"):
            req.setTransferTimeout(int(timeout * 1000))
        blocking = QgsBlockingNetworkRequest()
        if self.authcfg:
            blocking.setAuthCfg(self.authcfg)
        if method == "GET":
            code = blocking.get(req, True)
        elif method == "HEAD":
            code = blocking.head(req, True)
        elif method == "POST":
            code = blocking.post(req, QByteArray(body or b""), True)
        elif method == "PUT":
            code = blocking.put(req, QByteArray(body or b""))  # 3.22: no forceRefresh argument
        else:
            raise TransportError("other", f"unsupported method {method}")
        reply = blocking.reply()
        status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
        content = bytes(reply.content())
        hdrs = {
            bytes(k).decode("latin-1").lower(): bytes(reply.rawHeader(k)).decode("latin-1")
            for k in reply.rawHeaderList()
        }
        error = reply.error()
        message = blocking.errorMessage() or reply.errorString()
        # Qt's transfer timeout aborts the reply (OperationCanceledError) and QgsBlockingNetworkRequest
        # then returns NoError: what was received tells no answer from a body that stalled.
        timed_out = code == QgsBlockingNetworkRequest.ErrorCode.TimeoutError or error in (
            QNetworkReply.NetworkError.OperationCanceledError,
            QNetworkReply.NetworkError.TimeoutError,
        )
        if timed_out:
            if status is None:
                raise TransportError("timeout", message or "timeout")
            raise TransportError("stalled", message or "stalled", expected=content_length(hdrs))
        if status is None:
            reason = {
                QNetworkReply.NetworkError.ConnectionRefusedError: "refused",
                QNetworkReply.NetworkError.HostNotFoundError: "not_found",
                QNetworkReply.NetworkError.RemoteHostClosedError: "closed",
            }.get(error, connection_reason(message))
            raise TransportError("connection", message, reason=reason)
        if error == QNetworkReply.NetworkError.RemoteHostClosedError:
            raise TransportError("truncated", message, received=len(content), expected=content_length(hdrs))
        check_complete(method, hdrs, content)
        final_url = reply.request().url().toString() or url
        return HttpResponse(url=final_url, status=int(status), headers=hdrs, content=content)


def qgis_client(authcfg: str = "", timeout: float = 30.0) -> HttpClient:
    """An :class:`HttpClient` going through QGIS's network stack."""
    return HttpClient(QgisTransport(authcfg), timeout=timeout)


def source_for(config):
    """A catalog source whose requests carry the source's ``authcfg`` (QGIS authentication manager)."""
    from ..core.catalog.sources import make_source
    from .settings import Settings

    client = qgis_client(config.authcfg, float(Settings.HTTP_TIMEOUT_S.value())) if config.authcfg else None
    return make_source(config, client=client)
