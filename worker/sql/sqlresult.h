/*
 * The text of a SQL execution's `result` event, the Go daemon's JSON object
 * {"columns":["a",...],"rows":[["1",null,...],...]}: every cell a string as the server's
 * text protocol sends it (numbers, dates, decimals, text alike), NULL as null; "rows" is
 * left out when there are none. Binary strings that are not valid UTF-8 are written in
 * hex ("0x1F8B"). A statement without a result set is {"columns":["affected_rows"],
 * "rows":[[n]]}.
 *
 * Rows are added as they are fetched, so memory stays bounded by the caps: once a row
 * would pass max_rows or take the text past max_bytes it is not added, the result is cut
 * and the object ends with "truncated":true (a key Go clients ignore).
 */
#ifndef EXECD_SQLRESULT_H
#define EXECD_SQLRESULT_H

#include <mysql.h>
#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

enum sqlresult_cut {
    SQLRESULT_WHOLE, /* every row is in */
    SQLRESULT_ROWS,  /* cut at max_rows */
    SQLRESULT_BYTES, /* cut at max_bytes */
};

struct sqlresult {
    struct strbuf json;
    uint64_t rows;
    uint64_t max_rows, max_bytes; /* 0: no limit */
    unsigned ncols;
    bool *binary; /* per column: raw bytes, hex unless valid UTF-8 */
    enum sqlresult_cut cut;
};

/* An empty result with these caps (0: no limit). */
void sqlresult_init(struct sqlresult *r, uint64_t max_rows, uint64_t max_bytes);
/* Starts the text with the result set's columns. */
void sqlresult_columns(struct sqlresult *r, const MYSQL_FIELD *fields, unsigned n);
/*
 * Adds one row (lengths: of each cell). Returns false, adding nothing, when a cap cuts
 * the result here (r->cut says which); every later call then returns false too.
 */
bool sqlresult_row(struct sqlresult *r, MYSQL_ROW row, const unsigned long *lengths);
/* Ends the text of a result set. */
void sqlresult_finish(struct sqlresult *r);
/* The whole text for a statement without a result set. */
void sqlresult_affected(struct sqlresult *r, uint64_t n);
void sqlresult_free(struct sqlresult *r);

#endif
