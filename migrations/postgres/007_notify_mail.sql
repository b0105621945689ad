-- (PostgreSQL) The email sender's lease (src/notify/mail.h): claimed_by names the sender
-- that holds a queued row until its next_attempt_at (the lease) runs out.
-- The second index serves the per-user rate limit (mails sent in a minute).
ALTER TABLE notify_email_outbox ADD COLUMN claimed_by TEXT;
CREATE INDEX notify_email_user_sent ON notify_email_outbox (tenant_id, user_id, sent_at);
