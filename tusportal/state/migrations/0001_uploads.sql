-- Upload state. The committed offset here is the truth; bytes in storage past it are garbage.
CREATE TABLE uploads (
    id               text PRIMARY KEY,
    state            text NOT NULL DEFAULT 'active'
                     CHECK (state IN ('active', 'finished', 'terminated', 'expired')),
    upload_offset    bigint NOT NULL DEFAULT 0 CHECK (upload_offset >= 0),
    upload_length    bigint CHECK (upload_length >= 0),       -- NULL while the length is deferred
    metadata_raw     text,                                     -- Upload-Metadata exactly as sent
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,       -- decoded, for listings and events
    concat_kind      text CHECK (concat_kind IN ('partial', 'final')),
    concat_parts     text[],
    owner_id         text,
    batch_id         text,
    storage_key      text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz,                              -- NULL once finished
    finished_at      timestamptz,
    -- the lease that serializes requests changing one upload, across processes
    lock_token       text,
    lock_expires_at  timestamptz,
    CHECK (upload_length IS NULL OR upload_offset <= upload_length)
);

CREATE INDEX uploads_expiry_idx ON uploads (expires_at) WHERE state = 'active';
CREATE INDEX uploads_owner_idx ON uploads (owner_id, created_at);
CREATE INDEX uploads_batch_idx ON uploads (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX uploads_lock_idx ON uploads (lock_token) WHERE lock_token IS NOT NULL;
