"""Federation: facts travel between organisations' nodes under explicit scope permission.

Start here. This is the design in prose; each module below does one duty.

Identity (``keys``)
    An Ed25519 keypair per node, from ``STIGMEM_FEDERATION_PRIVKEY`` (padded or not) or
    generated once into ``node_meta``; advertised unpadded in ``/.well-known/stigmem`` with
    ``federation_version`` "0.5", ``federation_endpoints`` and our ``pull_interval_s``.

Handshake (``declarations``, ``handshake``)
    A node joins a peer by POSTing a signed PeerDeclaration (upstream's exact bytes). The
    receiver checks ``signed_at`` age, the signature, and the declarer's own well-known
    document (same ``node_id`` and key; guarded fetch: timeouts, no redirects, size bound),
    then waits for an operator to approve with the key's ``sha256:`` fingerprint. Rejected
    peers may register again; peers can be removed. A ``peers`` row means both "this peer may
    pull from us" and "we pull from this peer", so replication needs both sides to register.

Tokens (``tokens``, ``peer_auth``)
    Every request between peers carries a fresh EdDSA JWT (millisecond ``iat``/``exp``, a
    nonce, the peer's declared scopes). The receiver checks them in upstream's order and
    answers upstream's 401 reasons; nonces live in the database (``nonce_cache``) for
    ``max(exp, now + STIGMEM_FEDERATION_NONCE_WINDOW_S)``, so a restart forgets no nonce.

Serving (``server``, ``api``, ``gate``)
    Pages are read by the local commit sequence ``facts.seq`` (never by HLC), so no fact is
    skipped whatever the clocks do; the cursor is opaque. A peer sees only scopes both
    declarations allow, never ``local``, ``team`` only with ``STIGMEM_FEDERATION_ALLOW_TEAM``,
    never a garden-tagged or quarantined fact, never protocol metadata, never a company/team
    fact received from another peer (the per-hop rule), and never what it sent or originated.
    Public facts received from one peer are relayed to the others; deduplication by id stops
    loops. Numbers are served so that upstream's CID check passes (ints stay ints). Too many
    requests at once are refused with 429/503 and ``Retry-After``.

Pulling (``puller``, ``backoff``, ``context``, ``client``)
    One task per active peer, so a slow or broken peer delays nobody else; at most one request
    in flight per peer (the next page is fetched while the current one is written). Pages are
    drained while ``has_more`` (bounded per cycle); the interval is the peer's advertised
    ``pull_interval_s`` or ours. Failures back off exponentially with jitter, honour
    ``Retry-After``, and the backoff is persisted per peer.

Ingest (``ingest``)
    Pull and push share one path. Each fact is checked on its own: scope within the peer's
    declaration, ``local`` never; the source may not claim this node, the node's system
    source or another node; only public facts may arrive relayed; CID verified when present
    (upstream serves integral numbers as floats with a CID over the int: both are tried);
    HLC within the future bound (a fact older than the past bound is still accepted, just not
    merged into our clock, so a node with a long history can take on new peers); values
    checked like a local assert; no garden tags, quarantine states, instruction facts or
    ``stigmem:`` metadata. A bad fact is rejected with a stable reason, audited, and skipped:
    it never stalls its page, its peer or any other peer. The rest of the page is written in
    one transaction with the page's cursor, idempotently (dedup by id, then by content as a
    local assert would), with ``received_from``/``origin_node_id``, the
    ``stigmem:received_from`` meta-fact, and the facts write path's retraction and
    contradiction effects (contradictions are detected across nodes).

Pushing (``pusher``)
    With ``STIGMEM_FEDERATION_PUSH_ENABLED``, one task per active peer that advertises a push
    endpoint sends new servable facts as they commit (the low-latency path). Pull stays the
    repair path: a failed push only backs off.

Audit (``store.audit_txn``)
    Registration, verification, rejection, approval (and failures), removal, token
    rejections, replays, scope violations, rejected facts and accepted batches go to
    ``federation_audit`` (``GET /v1/federation/audit``, upstream's shape, newest first with a
    working cursor) and are mirrored into the node's audit log as ``federation.*`` events, in
    the same transaction as the change they record.
"""
