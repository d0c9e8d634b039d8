-- Durable events: the transactional outbox, webhook subscriptions, deliveries and their attempts.

-- The outbox, and the pull feed read from it. A row commits in the same transaction as the state
-- change it describes. The feed orders by (txid, seq) and shows only rows whose transaction is older
-- than every transaction still running, so a reader that follows its cursor never skips a row that
-- commits later (txid is the writing transaction's id, seq breaks ties inside it).
CREATE TABLE events (
    id             uuid PRIMARY KEY,                   -- the CloudEvents id; the webhook-id of its deliveries
    seq            bigserial NOT NULL,
    txid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    type           text NOT NULL,
    subject        text NOT NULL,
    time           timestamptz NOT NULL DEFAULT now(),
    data           jsonb NOT NULL,
    upload_id      text,
    batch_id       text,
    owner_id       text,
    -- handed to the broker (set at insert when the broker is PostgreSQL: same transaction), and
    -- fanned out to deliveries by the dispatch actor. The sweeper re-sends what stays undispatched.
    published_at   timestamptz,
    dispatched_at  timestamptz
);
CREATE INDEX events_feed_idx ON events (txid, seq);
CREATE INDEX events_undispatched_idx ON events (time) WHERE dispatched_at IS NULL;
CREATE INDEX events_batch_idx ON events (batch_id, txid, seq) WHERE batch_id IS NOT NULL;

CREATE TABLE webhook_subscriptions (
    id           text PRIMARY KEY,
    url          text NOT NULL,
    event_types  text[] NOT NULL,                     -- exact types, or '*' for every type
    secret       text NOT NULL,                       -- whsec_<base64>
    description  text NOT NULL DEFAULT '',
    enabled      boolean NOT NULL DEFAULT true,
    owner_id     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One delivery per (event, subscription); retried as a whole by the Dramatiq Retries middleware.
CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    subscription_id  text NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    failures         integer NOT NULL DEFAULT 0,            -- failed attempts in this window
    created_at       timestamptz NOT NULL DEFAULT now(),
    window_from      timestamptz NOT NULL DEFAULT now(),  -- retries stop window seconds after this
    lease_until      timestamptz,                          -- an attempt is in flight until then
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),   -- when the broker should bring it back
    last_attempt_at  timestamptz,
    last_status      integer,
    last_error       text,
    finished_at      timestamptz,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subscription_idx ON webhook_deliveries (subscription_id, state, id);

CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    latency_ms   double precision NOT NULL,
    status       integer,                             -- NULL when no answer came (refused, timeout)
    error        text,
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'final', 'dead'))
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- The PostgreSQL Dramatiq broker's storage: iddqueue 0.13.0's generate_init_sql(schema='tusportal_queue'),
-- kept verbatim (tests/events/test_migration.py checks it against the pinned iddqueue). A later
-- iddqueue needs a migration with its generate_upgrade_sql().
CREATE SCHEMA IF NOT EXISTS "tusportal_queue";
CREATE TYPE "tusportal_queue"."state" AS ENUM ('queued', 'consumed', 'rejected', 'cancelled', 'done');
CREATE TABLE "tusportal_queue"."queue"(
  message_id uuid PRIMARY KEY,
  started BOOLEAN NOT NULL DEFAULT FALSE,
  cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
  queue_name TEXT NOT NULL DEFAULT 'default',
  "state" "tusportal_queue"."state",
  mtime TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  message JSONB,
  "result" JSONB,
  result_ttl  TIMESTAMP WITH TIME ZONE
);
CREATE INDEX ON "tusportal_queue"."queue"("state", mtime);
CREATE TABLE IF NOT EXISTS "tusportal_queue"."coordination" (
    key TEXT PRIMARY KEY,
    value BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    event_expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);
CREATE TABLE IF NOT EXISTS "tusportal_queue"."deduplication" (
    queue_name TEXT NOT NULL,
    key TEXT NOT NULL,
    message_id UUID NOT NULL,
    message JSONB NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (queue_name, key)
);
CREATE INDEX IF NOT EXISTS "deduplication_expiry" ON "tusportal_queue"."deduplication" (expires_at);
CREATE TABLE IF NOT EXISTS "tusportal_queue"."queue_control" (
    queue_name TEXT PRIMARY KEY,
    paused BOOLEAN NOT NULL DEFAULT FALSE
);
ALTER TYPE "tusportal_queue"."state" ADD VALUE IF NOT EXISTS 'cancelled';
ALTER TABLE "tusportal_queue"."queue" ADD COLUMN IF NOT EXISTS started BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE "tusportal_queue"."queue" ADD COLUMN IF NOT EXISTS cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE IF NOT EXISTS "tusportal_queue"."attempts" (
    attempt_id UUID PRIMARY KEY,
    message_id UUID NOT NULL,
    queue_name TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    finished_at TIMESTAMPTZ,
    outcome TEXT CHECK (outcome IN ('successful', 'failed')),
    error_type TEXT,
    error_text TEXT CHECK (length(error_text) <= 2000)
);
CREATE INDEX IF NOT EXISTS "attempts_message" ON "tusportal_queue"."attempts" (message_id, attempt_id);
CREATE INDEX IF NOT EXISTS "attempts_age" ON "tusportal_queue"."attempts" (started_at);
CREATE TABLE IF NOT EXISTS "tusportal_queue"."schedules" (
    schedule_id UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> ''),
    message JSONB NOT NULL,
    interval_ms BIGINT NOT NULL CHECK (interval_ms > 0),
    next_run TIMESTAMPTZ NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX IF NOT EXISTS "schedules_due" ON "tusportal_queue"."schedules" (next_run) WHERE enabled;
