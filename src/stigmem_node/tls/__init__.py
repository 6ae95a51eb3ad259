"""Transport security: HTTPS, mutual TLS between peers, and the start-up gate.

Start here; operators read ``docs/tls.md``. Each module below does one duty.

Settings (``files``)
    ``STIGMEM_TLS_CERT_PATH`` + ``STIGMEM_TLS_KEY_PATH`` make the node serve HTTPS only,
    TLS 1.3 minimum. ``STIGMEM_TLS_CA_BUNDLE`` adds mutual TLS: clients are asked for a
    certificate, which must chain to the bundle. Contexts are rebuilt when the files change
    (``Reloading``), so a renewed certificate is used by the next connection, no restart.

Gate (``gate``)
    Upstream's start-up rules: federation or push without mutual TLS needs
    ``STIGMEM_FEDERATION_INSECURE=1`` and a loopback ``STIGMEM_NODE_URL`` (or also
    ``STIGMEM_LOCAL_DEV_ALLOW_INSECURE_NON_LOOPBACK=1``); ``STIGMEM_AUTH_REQUIRED=false``
    needs a loopback URL or that acknowledgement. Each refusal is one line naming the
    variable to set.

Serving (``server``, ``guard``)
    Each accepted connection is peeked at: TLS goes through a handshake with the current
    context (refusals such as expired or unknown certificates are audited as ``tls_refused``),
    plain HTTP is parsed so the guard can answer it 421 (upstream's ``mTLS required`` body on
    ``/v1/federation*``; only ``/healthz`` is served in plain text). The verified client
    certificate rides in each request's ASGI TLS extension; with mutual TLS the routes peers
    call refuse connections without one.

Peer identity (``peer``, ``client``)
    A peer's certificate must carry its node id as a URI SAN. Inbound, peer-token
    authentication checks it after the token (upstream's step 13: 401 ``peer certificate URI
    SAN does not match node_id``); outbound, the federation client checks the answering
    certificate before sending anything. Mismatches are audited as ``san_mismatch``.

Certificates (``devca``)
    ``stigmem tls dev-ca`` and ``stigmem tls issue --node-id ...`` make a development CA and
    node certificates with the right SANs and purposes.
"""
