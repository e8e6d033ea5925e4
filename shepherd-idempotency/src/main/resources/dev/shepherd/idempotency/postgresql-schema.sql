-- Schema of JdbcIdempotencyStore (shepherd-idempotency) for PostgreSQL 12 or newer.
-- Idempotent: safe to run again. With a custom table name, the store replaces the name
-- shepherd_idempotency everywhere below (so the sequence and index names follow it).

-- Fencing tokens: one sequence for the whole table, so a token is never handed out twice.
CREATE SEQUENCE IF NOT EXISTS shepherd_idempotency_token_seq AS bigint;

CREATE TABLE IF NOT EXISTS shepherd_idempotency (
  idempotency_key text        NOT NULL PRIMARY KEY,
  fingerprint     text        NOT NULL,
  -- P: in progress (owned by fencing_token), C: completed, H: halted,
  -- R: released (claimable at once; kept so fencing tokens of the key keep growing)
  state           char(1)     NOT NULL CHECK (state IN ('P', 'C', 'H', 'R')),
  fencing_token   bigint      NOT NULL,
  took_over       boolean     NOT NULL DEFAULT false,
  claimed_at      timestamptz NOT NULL,
  lease_until     timestamptz NOT NULL,
  -- end of retention: the record counts as absent from then on, and is pruned
  expires_at      timestamptz NOT NULL,
  -- the StoredResponse in its byte-exact format (StoredResponse.toBytes), when state = 'C'
  response        bytea,
  -- why, when state = 'H'
  reason          text,
  -- the id the claiming caller gave its attempt, so it can release a claim whose reply it lost
  claim_id        text
);

-- Tables created before claim ids existed.
ALTER TABLE shepherd_idempotency ADD COLUMN IF NOT EXISTS claim_id text;

CREATE INDEX IF NOT EXISTS shepherd_idempotency_expires_at_idx
  ON shepherd_idempotency (expires_at);
