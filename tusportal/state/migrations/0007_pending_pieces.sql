-- Pending pieces of unfinished S3 uploads (the bytes after the last multipart part, less than a
-- part) when the S3 store keeps them here instead of in the bucket: every instance reads them, and
-- a small PATCH costs one INSERT instead of an object PUT. Written once, never updated; deleted
-- when their bytes are in a part, or the upload completes, is terminated or expires.
-- (0007: 0006 is taken by a parallel branch.)
CREATE TABLE pending_pieces (
    name text PRIMARY KEY,
    owner text NOT NULL,  -- the upload's storage key
    data bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- random bytes do not compress: store them out of line as they are
ALTER TABLE pending_pieces ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX pending_pieces_owner ON pending_pieces (owner);
