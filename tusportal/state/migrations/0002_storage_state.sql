-- The store's own bookkeeping for an upload (an S3 multipart upload id, its parts, where a pending
-- piece lives), persisted with the committed offset so that every instance can resume it.
ALTER TABLE uploads ADD COLUMN storage_state jsonb;
