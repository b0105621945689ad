-- The payment service's one outcome per order (see migrations/sqlite/003_payment.sql).

CREATE TABLE payment_payments (
  order_id        TEXT COLLATE "C" PRIMARY KEY,
  tenant_id       TEXT COLLATE "C" NOT NULL,
  payment_id      TEXT COLLATE "C" NOT NULL UNIQUE,
  state           TEXT NOT NULL,
  reason          TEXT,
  amount          TEXT NOT NULL,
  currency        TEXT NOT NULL,
  processed_at    TEXT,
  trace_id        TEXT NOT NULL,
  attempts        INTEGER NOT NULL,
  next_attempt_at BIGINT,
  emitted         INTEGER NOT NULL,
  created_at      BIGINT NOT NULL
);
CREATE INDEX payment_payments_pending ON payment_payments (next_attempt_at)
  WHERE state = 'pending';
CREATE INDEX payment_payments_unemitted ON payment_payments (order_id) WHERE emitted = 0;
