-- Notify's people (PostgreSQL): the user directory, the in-app inbox, the email outbox and
-- the outbox of notifications.events messages. Times are ms since the Unix
-- epoch. Rows for one order_paid event are written in the transaction that
-- stores the event's dedupe record, so a redelivery creates none of them
-- twice (the unique (event_id, user_id) indexes defend it a second time).

CREATE TABLE notify_users (
  tenant_id      TEXT COLLATE "C" NOT NULL,
  user_id        TEXT COLLATE "C" NOT NULL,
  email          TEXT NOT NULL,
  display_name   TEXT NOT NULL,
  roles          TEXT NOT NULL,  -- JSON array of role names, as given
  email_enabled  INTEGER NOT NULL DEFAULT 1,
  in_app_enabled INTEGER NOT NULL DEFAULT 1,
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);

-- notification_id is a UUIDv7: its order is creation order, so it is also
-- the inbox's cursor.
CREATE TABLE notify_inbox (
  notification_id TEXT COLLATE "C" PRIMARY KEY,
  tenant_id       TEXT COLLATE "C" NOT NULL,
  user_id         TEXT COLLATE "C" NOT NULL,
  event_id        TEXT COLLATE "C" NOT NULL,
  event_type      TEXT NOT NULL,
  order_id        TEXT COLLATE "C" NOT NULL,
  template        TEXT NOT NULL,
  title           TEXT NOT NULL,
  body            TEXT NOT NULL,
  data            TEXT NOT NULL,  -- JSON object: the order's fields
  created_at      BIGINT NOT NULL,
  read_at         BIGINT
);
CREATE UNIQUE INDEX notify_inbox_event_user ON notify_inbox (event_id, user_id);
CREATE INDEX notify_inbox_user ON notify_inbox (tenant_id, user_id, notification_id);

-- state: queued → sent | failed. next_attempt_at orders the sender's work.
CREATE TABLE notify_email_outbox (
  notification_id TEXT COLLATE "C" PRIMARY KEY,
  tenant_id       TEXT COLLATE "C" NOT NULL,
  user_id         TEXT COLLATE "C" NOT NULL,
  event_id        TEXT COLLATE "C" NOT NULL,
  event_type      TEXT NOT NULL,
  order_id        TEXT COLLATE "C" NOT NULL,
  to_addr         TEXT NOT NULL,
  template        TEXT NOT NULL,
  vars            TEXT NOT NULL,  -- JSON object the templates are rendered with
  state           TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  reason          TEXT,
  trace_id        TEXT,
  created_at      BIGINT NOT NULL,
  sent_at         BIGINT
);
CREATE UNIQUE INDEX notify_email_event_user ON notify_email_outbox (event_id, user_id);
CREATE INDEX notify_email_due ON notify_email_outbox (state, next_attempt_at);

-- notifications.events messages not yet acknowledged by Kafka, in id order.
CREATE TABLE notify_publish_outbox (
  id         BIGSERIAL PRIMARY KEY,
  msg_key    TEXT NOT NULL,  -- user_id
  payload    TEXT NOT NULL,  -- the message, as published
  trace_id   TEXT,
  created_at BIGINT NOT NULL
);
