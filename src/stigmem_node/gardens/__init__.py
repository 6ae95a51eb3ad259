"""Memory gardens: named, ACL'd partitions of the fact store inside one scope.

Invariants (CONTRACT §5, spec §17):

* A garden has a fixed scope; every fact tagged with it has that scope (422 otherwise).
* Garden-tagged facts are visible only to the garden's members (any role) and to node admins
  (the ``admin`` permission), on every read path, through ``facts.visibility.acl_sql``; they
  never leave the node (``facts.visibility.shareable_sql``).
* Writing a garden fact needs the ``admin`` or ``writer`` role. Managing members, deleting the
  garden and moderating its quarantine need the garden ``admin`` role (moderation also
  ``quarantine:moderator``); the node ``admin`` permission may do all of these.
* A garden always keeps one admin. Deleting a garden ends its memberships; its facts stay.
* Membership changes are mirrored as ``garden:`` metadata facts (source ``system:stigmem``),
  tagged with the garden itself so only members see them, in the same transaction and with an
  audit event.
* A fact written into a **quarantine garden** is held (pending) and has no effect until a
  moderator promotes it (a copy is asserted into the target garden, or into no garden, and
  the held original is retired) or rejects it (retracted). Decisions are final and audited.

Gardens are found by slug: the authority of a ``stigmem://<authority>/garden/<slug>`` URI is
ignored. Wire records carry the garden's uuid in ``FactRecord.garden_id`` but the URI in
``GardenRecord.garden_id``, as upstream does.

This feature's transactions compose the facts store's ``_txn`` functions directly, as the
conflicts feature does: a membership change and its metadata facts commit together.
"""
