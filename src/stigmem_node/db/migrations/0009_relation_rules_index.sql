-- The read rules from index pages (issue 9). ``GET /v1/facts?relation=R`` answers a real
-- total (CONTRACT §9): the visibility and liveness rules are checked on every fact of the
-- relation (about 18 500 of 1 000 000 in the benchmark). Through ``facts_relation`` each
-- check read the fact's table row, and the contradiction check (``facts.rules._rival_sql``)
-- the rows of its triple through ``facts_triple``, scattered over the whole index: about
-- 100 ms per count. This index holds every column the rules read of a fact (ACL, expiry,
-- retraction and quarantine look-ups by id, liveness) and starts with the relation, so such
-- a count walks one contiguous range of it and the triple probes land in that same range.
CREATE INDEX facts_relation_rules
    ON facts (relation, entity, scope, garden_id, valid_until_utc, confidence, reserved, id);
