-- The order service's tables (prefix order_). Times are ms since the Unix epoch.
--
-- order_orders.seq orders a tenant's orders newest first and is the list
-- cursor; order_outbox.id is the relay's publishing order. Both come from
-- a sequence, never reused after a delete.

CREATE TABLE order_orders (
  seq          BIGSERIAL PRIMARY KEY,
  order_id     TEXT NOT NULL UNIQUE,
  tenant_id    TEXT NOT NULL,
  user_id      TEXT NOT NULL,
  status       TEXT NOT NULL,
  currency     TEXT NOT NULL,
  total_amount TEXT NOT NULL,
  reference    TEXT,
  line_items   TEXT NOT NULL,
  sku_count    INTEGER NOT NULL,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL
);
CREATE INDEX order_orders_tenant ON order_orders (tenant_id, seq);
CREATE INDEX order_orders_tenant_status ON order_orders (tenant_id, status, seq);

CREATE TABLE order_idempotency (
  tenant_id   TEXT NOT NULL,
  idem_key    TEXT NOT NULL,
  request     TEXT NOT NULL,
  status_code INTEGER NOT NULL,
  response    TEXT NOT NULL,
  order_id    TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, idem_key)
);

CREATE TABLE order_outbox (
  id          BIGSERIAL PRIMARY KEY,
  topic       TEXT NOT NULL,
  msg_key     TEXT NOT NULL,
  payload     TEXT NOT NULL,
  traceparent TEXT,
  created_at  BIGINT NOT NULL
);

-- Consumed payments.completed outcomes: the dedupe record (order_id, state).
CREATE TABLE order_payments (
  order_id    TEXT NOT NULL,
  state       TEXT NOT NULL,
  payment_id  TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (order_id, state)
);

-- Consumed inventory.updated records: the dedupe record (reservation_id, sku,
-- state), kept per order so that records that arrive before the payment are
-- applied after it.
CREATE TABLE order_stock (
  reservation_id TEXT NOT NULL,
  sku            TEXT NOT NULL,
  state          TEXT NOT NULL,
  order_id       TEXT NOT NULL,
  received_at    BIGINT NOT NULL,
  PRIMARY KEY (reservation_id, sku, state)
);
CREATE INDEX order_stock_order ON order_stock (order_id, state);
