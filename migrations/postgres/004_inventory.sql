-- The inventory service's tables (DESIGN.md flow item 3). Times are ms since
-- the Unix epoch. available = on_hand - reserved.

-- Stock per (tenant, sku). The CHECKs are a second line of defence: the
-- reservation path never relies on them, it uses a conditional UPDATE.
CREATE TABLE inventory_stock (
  tenant_id  TEXT NOT NULL,
  sku        TEXT NOT NULL,
  on_hand    BIGINT NOT NULL CHECK (on_hand >= 0),
  reserved   BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, sku)
);

-- Each order inventory has heard of, and where it stands: pending (items
-- known, no payment yet), parked_succeeded / parked_failed (payment known,
-- orders.created not yet), reserved, out_of_stock, failed, cancelled.
CREATE TABLE inventory_orders (
  tenant_id  TEXT NOT NULL,
  order_id   TEXT NOT NULL,
  state      TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, order_id)
);

-- An order's line items, qty summed per sku.
CREATE TABLE inventory_order_items (
  tenant_id TEXT NOT NULL,
  order_id  TEXT NOT NULL,
  sku       TEXT NOT NULL,
  qty       BIGINT NOT NULL CHECK (qty > 0),
  PRIMARY KEY (tenant_id, order_id, sku)
);

-- One reservation per order and sku; reservation_id is stable.
CREATE TABLE inventory_reservations (
  tenant_id      TEXT NOT NULL,
  order_id       TEXT NOT NULL,
  sku            TEXT NOT NULL,
  qty            BIGINT NOT NULL,
  reservation_id TEXT NOT NULL UNIQUE,
  state          TEXT NOT NULL,
  updated_at     BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, order_id, sku)
);

-- Dedupe: one row per consumed message identity (its cause key).
CREATE TABLE inventory_processed (
  cause        TEXT PRIMARY KEY,
  processed_at BIGINT NOT NULL
);

-- What each cause emitted, so that a redelivery re-emits the same bytes.
CREATE TABLE inventory_emitted (
  cause    TEXT NOT NULL,
  seq      INTEGER NOT NULL,
  sku      TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  payload  TEXT NOT NULL,
  PRIMARY KEY (cause, seq)
);
