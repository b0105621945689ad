/*
 * The storage layer's face: one connection handle over a table of drivers
 * (sqlite.c, postgres.c), chosen once at open time from the URL scheme.
 *
 * A handle is one database connection. It is not thread-safe: use one handle
 * per thread. Every function returns 0 or a negative OP_E* code (core/err.h);
 * library errors are translated here:
 *   OP_EDBDOWN   the database is unreachable or the connection was lost
 *   OP_EEXIST    a unique or primary-key constraint was violated
 *   OP_ECONFLICT a serialization failure, deadlock or lock timeout; retry
 *   OP_EDB       any other database error
 * After a failure, op_store_errmsg() gives the detail (never a password).
 *
 * SQL is portable text with $1..$N placeholders and only bound parameters;
 * values are never spliced into SQL text. Parameters and results travel as
 * text (integers in decimal), NULL meaning SQL NULL. Each distinct SQL text
 * is prepared once per connection and cached, so statements built with a
 * variable number of rows should use a small set of fixed row counts.
 */
#ifndef OP_STORE_STORE_H
#define OP_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct op_store_s op_store_t;
typedef struct op_rows_s op_rows_t;

/*
 * Opens a connection. url is one of
 *   sqlite://path/to/file.db     relative to the working directory
 *   sqlite:///abs/path/file.db   absolute
 *   sqlite://:memory:            a private in-memory database (tests)
 *   postgres://… or postgresql://…  a libpq connection URI
 * SQLite creates the file's parent directories when missing. Returns 0 and
 * sets *out (the caller closes it with op_store_close), or OP_EINVAL (bad URL),
 * OP_EDBDOWN (cannot connect or open), OP_EDB, OP_ENOMEM, with one line in
 * errbuf. Does not create the schema: see op_store_migrate. Any thread.
 */
int op_store_connect(const char *url, op_store_t **out, char *errbuf, size_t errlen);

/* The same as op_store_connect for callers that only need success or not:
 * returns the handle, or NULL with one line in errbuf. */
op_store_t *op_store_open(const char *url, char *errbuf, size_t errlen);

/* Closes the connection, rolling back any open transaction, and frees the
 * handle. NULL is a no-op. */
void op_store_close(op_store_t *store);

/* "sqlite" or "postgres". Static string. */
const char *op_store_backend(const op_store_t *store);

/* Detail of the last failure on this handle ("" when none). Owned by the
 * handle, valid until its next call. */
const char *op_store_errmsg(const op_store_t *store);

/*
 * Transactions. begin starts a read-write transaction (SQLite: BEGIN
 * IMMEDIATE, so writers queue at begin rather than failing at commit;
 * PostgreSQL: READ COMMITTED). Nested begin is OP_EINVAL. commit returns once
 * the transaction is durable as configured for the backend; when it fails
 * the transaction is rolled back. rollback never leaves a transaction open
 * and succeeds on a lost connection (the transaction is gone anyway); outside
 * a transaction it is a no-op. On PostgreSQL a lost connection is re-opened
 * at the next call made outside a transaction.
 *
 * A failed statement dooms its transaction on both backends (as PostgreSQL
 * does): later op_store_exec calls fail with OP_EINVAL and commit rolls back
 * and returns OP_EINVAL; only rollback is useful.
 */
int op_store_begin(op_store_t *store);
int op_store_commit(op_store_t *store);
int op_store_rollback(op_store_t *store);

/* 1 while a transaction begun with op_store_begin is open, else 0. */
int op_store_in_tx(const op_store_t *store);

/*
 * Runs one SQL statement with nparams text parameters bound to $1..$nparams
 * (params[i] NULL binds SQL NULL; params may be NULL when nparams is 0).
 * rows_out, when not NULL, receives the result rows (possibly zero); the
 * caller frees them with op_rows_free. On failure *rows_out is NULL.
 * Parameters are borrowed for the duration of the call.
 */
int op_store_exec(op_store_t *store, const char *sql, int nparams, const char *const *params,
                  op_rows_t **rows_out);

/* Rows inserted, updated or deleted by the last successful op_store_exec. */
int64_t op_store_changes(const op_store_t *store);

/* Result rows. Strings are owned by rows and valid until op_rows_free. */
size_t op_rows_count(const op_rows_t *rows);
int op_rows_columns(const op_rows_t *rows);
/* The cell as text, or NULL for SQL NULL or out-of-range indexes. */
const char *op_rows_get(const op_rows_t *rows, size_t row, int col);
/* Parses the cell as a decimal integer. Returns 0, OP_ENOENT (SQL NULL or no
 * such cell) or OP_EINVAL/OP_ERANGE (not a 64-bit integer). */
int op_rows_get_int64(const op_rows_t *rows, size_t row, int col, int64_t *out);
void op_rows_free(op_rows_t *rows);

/*
 * Applies the migrations embedded in the binary for this backend
 * (migrations/<backend>/NNN_name.sql) that schema_migrations does not list,
 * in version order, each in its own transaction. Safe when several processes
 * migrate the same database at once (PostgreSQL: an advisory lock; SQLite:
 * each step under BEGIN IMMEDIATE). Returns 0 or an OP_E* code with one line
 * in errbuf naming the failing migration. Must be called outside a
 * transaction.
 */
int op_store_migrate(op_store_t *store, char *errbuf, size_t errlen);

/* The highest migration version embedded for this backend. */
int64_t op_store_schema_version(const op_store_t *store);

#endif
