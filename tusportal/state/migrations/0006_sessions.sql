-- Browser sessions and the login throttle (TUSPORTAL_AUTH=required).

-- only the sha256 of the session cookie is kept. A session ends at `expires_at`, which every use
-- pushes forward by the idle time, never past `absolute_expires_at`.
CREATE TABLE sessions (
    token_hash           text PRIMARY KEY,
    user_id              text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_seen_at         timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL,
    absolute_expires_at  timestamptz NOT NULL,
    CHECK (expires_at <= absolute_expires_at)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- failed logins in the current window, per account (lower-cased email, known or not) and per
-- client address; shared by every instance
CREATE TABLE login_failures (
    kind               text NOT NULL CHECK (kind IN ('account', 'address')),
    key                text NOT NULL,
    failures           integer NOT NULL,
    window_started_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, key)
);

CREATE INDEX api_tokens_expires_idx ON api_tokens (expires_at) WHERE expires_at IS NOT NULL;
