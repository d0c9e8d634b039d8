-- Batches: files uploaded together, so that the systems processing them can wait for all of them.
CREATE TABLE batches (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    state           text NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'sealed', 'completed', 'cancelled')),
    expected_files  integer CHECK (expected_files IS NULL OR expected_files > 0),
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    owner_id        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sealed_at       timestamptz,
    completed_at    timestamptz,
    cancelled_at    timestamptz
);
CREATE INDEX batches_owner_idx ON batches (owner_id, created_at);

-- finals waiting for their partial uploads (concatenation-unfinished)
CREATE INDEX uploads_concat_parts_idx ON uploads USING gin (concat_parts) WHERE concat_kind = 'final';
