/*
 * What a statement is, read from its text before the server has said anything: whether
 * it is a query (it returns rows), which names its errors DBQueryError rather than
 * DBExecError. How its result is rendered is decided by what the server sends back.
 */
#ifndef EXECD_SQLSTMT_H
#define EXECD_SQLSTMT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether the statement's first keyword, after blanks, comments and opening parentheses,
 * is one of SELECT, WITH, SHOW, VALUES, TABLE, DESC, DESCRIBE, EXPLAIN (any case).
 */
bool sqlstmt_is_query(const char *sql, size_t len);

#endif
