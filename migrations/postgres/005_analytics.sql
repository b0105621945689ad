-- Analytics (PostgreSQL): per-tenant aggregates of every topic, the per-message dedupe
-- keys written in the same transaction, and per-window figures published to
-- analytics.aggregates. Times are ms since the Unix epoch. Money is kept as
-- two integer sums (whole currency units, and ten-thousandths) so that an
-- increment is one atomic UPDATE and no single contract amount overflows.

CREATE TABLE analytics_seen (
  dedupe_key  TEXT COLLATE "C" PRIMARY KEY,
  received_at BIGINT NOT NULL
);
CREATE INDEX analytics_seen_received_at ON analytics_seen (received_at);

CREATE TABLE analytics_tenants (
  tenant_id          TEXT COLLATE "C" PRIMARY KEY,
  orders_total       BIGINT NOT NULL,
  payments_succeeded BIGINT NOT NULL,
  payments_failed    BIGINT NOT NULL,
  audit_records      BIGINT NOT NULL,
  notifications      BIGINT NOT NULL,
  updated_at         BIGINT NOT NULL
);

CREATE TABLE analytics_revenue (
  tenant_id TEXT COLLATE "C" NOT NULL,
  currency  TEXT NOT NULL,
  whole     BIGINT NOT NULL,
  frac      BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, currency)
);

CREATE TABLE analytics_orders (
  tenant_id    TEXT COLLATE "C" NOT NULL,
  order_id     TEXT COLLATE "C" NOT NULL,
  status       TEXT,
  created_ms   BIGINT,
  paid_ms      BIGINT,
  latency_done INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, order_id)
);

CREATE TABLE analytics_latencies (
  id           BIGSERIAL PRIMARY KEY,
  tenant_id    TEXT COLLATE "C" NOT NULL,
  order_id     TEXT COLLATE "C" NOT NULL,
  latency_ms   BIGINT NOT NULL,
  window_start BIGINT NOT NULL
);
CREATE INDEX analytics_latencies_tenant ON analytics_latencies (tenant_id, id);
CREATE INDEX analytics_latencies_window ON analytics_latencies (tenant_id, window_start);

CREATE TABLE analytics_stock (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  sku        TEXT COLLATE "C" NOT NULL,
  available  BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, sku)
);

CREATE TABLE analytics_windows (
  tenant_id          TEXT COLLATE "C" NOT NULL,
  window_start       BIGINT NOT NULL,
  orders             BIGINT NOT NULL,
  payments_succeeded BIGINT NOT NULL,
  payments_failed    BIGINT NOT NULL,
  payload            TEXT,
  published          INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, window_start)
);
CREATE INDEX analytics_windows_pending ON analytics_windows (published, window_start);

CREATE TABLE analytics_window_revenue (
  tenant_id    TEXT COLLATE "C" NOT NULL,
  window_start BIGINT NOT NULL,
  currency     TEXT NOT NULL,
  whole        BIGINT NOT NULL,
  frac         BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, window_start, currency)
);
