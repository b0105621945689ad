-- Notify's event store: dedupe table, per-tenant positions, the tenant log
-- (SSE replay) and the current state of each order. Times are ms since the
-- Unix epoch.
--
-- Layout: the two tables written at scattered keys keep their rows in a rowid
-- heap that grows at its end, with the primary key as a smaller separate
-- index (event_records: event ids are usually random UUIDs; tenant_log: each
-- batch writes into every tenant's slice). Measured ~1.4x the events/s of
-- WITHOUT ROWID for these two. The small tables stay WITHOUT ROWID.

CREATE TABLE event_records (
  event_id    TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL,
  event_type  TEXT NOT NULL,
  received_at BIGINT NOT NULL
);
CREATE INDEX event_records_received_at ON event_records (received_at);

CREATE TABLE tenant_seq (
  tenant_id TEXT PRIMARY KEY,
  last_pos  BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE tenant_log (
  tenant_id  TEXT NOT NULL,
  pos        BIGINT NOT NULL,
  event_id   TEXT NOT NULL,
  event_type TEXT NOT NULL,
  order_id   TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  body       TEXT NOT NULL,
  trace_id   TEXT,
  PRIMARY KEY (tenant_id, pos)
);
CREATE INDEX tenant_log_created_at ON tenant_log (created_at);

CREATE TABLE order_view (
  tenant_id     TEXT NOT NULL,
  order_id      TEXT NOT NULL,
  status        TEXT,
  reference     TEXT,
  total_amount  TEXT,
  currency      TEXT,
  user_id       TEXT,
  updated_at    BIGINT NOT NULL,
  last_pos      BIGINT NOT NULL,
  last_event_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, order_id)
) WITHOUT ROWID;
CREATE INDEX order_view_tenant_pos ON order_view (tenant_id, last_pos);
