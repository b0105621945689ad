/*
 * The payment service: orders.created → charge through the payment gateway
 * (gateway.h) → one stored outcome per order_id → payments.completed.
 * Kafka only; /health and /metrics come from the host.
 *
 * Order of effects for a batch of orders.created:
 *   1. each message is validated (contracts/messages.h); invalid ones go to
 *      orders.created.dlq with the `error` header;
 *   2. an order that already has a payment is not charged again: a decided
 *      one has its stored payments.completed produced again, byte for byte;
 *   3. a new order is charged once (its first attempt) outside any
 *      transaction; the outcome, or a pending row when the gateway failed
 *      transiently, is inserted in ONE transaction for the batch;
 *   4. the outcomes are produced and flushed, the DLQ too, and only then does
 *      the handler return 0 so that the consumer commits the offsets.
 * A crash between 3 and 4 redelivers the batch, and step 2 re-emits.
 *
 * Retries do not hold the batch: a pending payment waits in the table (a
 * durable delayed-retry list) and is charged again between polls once its
 * backoff has passed (record.h). Its outcome is written with emitted = 0,
 * produced, flushed, then marked emitted, so that a crash anywhere in between
 * produces it again at the next start. Pending payments survive restarts.
 */
#ifndef OP_PAYMENT_PAYMENT_H
#define OP_PAYMENT_PAYMENT_H

#include "core/service.h"

#define OP_PAYMENT_GROUP "payment-service"

/* The service table for the host (core/service.h). */
extern const op_service_t op_payment_service;

#endif
