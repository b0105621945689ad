/*
 * The email sender: one thread with its own store connection that delivers
 * notify_email_outbox rows (state 'queued', next_attempt_at due, oldest
 * first, a bounded batch per pass) over SMTP and records each outcome, with
 * its notifications.events notice, in one transaction.
 *
 * Claims: before sending a row the sender leases it with one guarded UPDATE
 * (state still 'queued', still due) that moves next_attempt_at to now + the
 * lease (EMAIL_TIMEOUT_MS + a margin) and sets claimed_by. Of several notify
 * instances on one database only one wins a row; a sender that crashed
 * leaves the row 'queued' and it becomes due again when the lease runs out.
 * Delivery is therefore at least once: a crash between the server accepting
 * a mail and the commit of 'sent' sends that one mail again.
 *
 * Wake-ups: the thread polls the table every 200 ms while idle (rows are
 * written by notify's consumer, and may be written by another instance, so a
 * poll is needed anyway; one indexed query five times a second is cheap).
 * op_mail_wake makes the next pass start at once.
 */
#ifndef OP_NOTIFY_MAIL_H
#define OP_NOTIFY_MAIL_H

#include <stddef.h>

#include "core/config.h"

typedef struct op_mail_s op_mail_t;
struct op_notify_relay_s;

/* Returns the sender, or NULL + errbuf. With SMTP_URL empty it returns a
 * sender that never runs (mails stay queued) and logs a warning once.
 * relay (may be NULL) is woken after each committed notice. cfg is borrowed. */
op_mail_t *op_mail_new(const op_config_t *cfg, struct op_notify_relay_s *relay, char *errbuf,
                       size_t errlen);
int op_mail_start(op_mail_t *m);
void op_mail_wake(op_mail_t *m);
/* Finishes the mail in hand, then joins the thread. */
void op_mail_stop(op_mail_t *m);
void op_mail_free(op_mail_t *m);

#endif
