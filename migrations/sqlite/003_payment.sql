-- The payment service's one outcome per order. A row is written when the
-- first gateway attempt ends: decided (succeeded / failed, with processed_at)
-- or pending (a transient gateway error; retried at next_attempt_at ms since
-- the epoch). emitted = 0 marks a decided row whose payments.completed still
-- has to be produced (a row decided by a retry, after its source offset was
-- committed); rows decided while their orders.created is in hand are written
-- with emitted = 1, because the offset commit after the flush covers them.

CREATE TABLE payment_payments (
  order_id        TEXT PRIMARY KEY,
  tenant_id       TEXT NOT NULL,
  payment_id      TEXT NOT NULL UNIQUE,
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
) WITHOUT ROWID;
CREATE INDEX payment_payments_pending ON payment_payments (next_attempt_at)
  WHERE state = 'pending';
CREATE INDEX payment_payments_unemitted ON payment_payments (order_id) WHERE emitted = 0;
