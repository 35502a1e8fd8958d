#include "sql/sqlresult.h"

#include <stdlib.h>

#include "jsonesc.h"
#include "utf8.h"
#include "xalloc.h"

void sqlresult_init(struct sqlresult *r, uint64_t max_rows, uint64_t max_bytes)
{
    strbuf_init(&r->json);
    r->rows = 0;
    r->max_rows = max_rows;
    r->max_bytes = max_bytes;
    r->ncols = 0;
    r->binary = NULL;
    r->cut = SQLRESULT_WHOLE;
}

/* Strings of the binary character set (63) hold bytes, not text; numbers and dates also
 * carry charset 63 but are ASCII. */
static bool binary_column(const MYSQL_FIELD *f)
{
    if (f->charsetnr != 63)
        return false;
    switch (f->type) {
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_BIT:
    case MYSQL_TYPE_GEOMETRY:
        return true;
    default:
        return false;
    }
}

void sqlresult_columns(struct sqlresult *r, const MYSQL_FIELD *fields, unsigned n)
{
    r->ncols = n;
    r->binary = xcalloc(n > 0 ? n : 1, sizeof(*r->binary));
    strbuf_append_str(&r->json, "{\"columns\":[");
    for (unsigned i = 0; i < n; i++) {
        if (i > 0)
            strbuf_append_char(&r->json, ',');
        jsonesc_append(&r->json, fields[i].name, fields[i].name_length);
        r->binary[i] = binary_column(&fields[i]);
    }
    strbuf_append_char(&r->json, ']');
}

static void append_hex(struct strbuf *out, const char *s, size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    strbuf_reserve(out, 2 * len + 4);
    strbuf_append_str(out, "\"0x");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char pair[2] = {digits[c >> 4], digits[c & 15]};
        strbuf_append(out, pair, 2);
    }
    strbuf_append_char(out, '"');
}

static void append_cell(struct sqlresult *r, unsigned col, const char *v, size_t len)
{
    if (v == NULL)
        strbuf_append_str(&r->json, "null");
    else if (r->binary[col] && !utf8_valid(v, len))
        append_hex(&r->json, v, len);
    else
        jsonesc_append(&r->json, v, len);
}

bool sqlresult_row(struct sqlresult *r, MYSQL_ROW row, const unsigned long *lengths)
{
    if (r->cut != SQLRESULT_WHOLE)
        return false;
    if (r->max_rows > 0 && r->rows == r->max_rows) {
        r->cut = SQLRESULT_ROWS;
        return false;
    }
    size_t before = r->json.len;
    strbuf_append_str(&r->json, r->rows == 0 ? ",\"rows\":[[" : ",[");
    for (unsigned i = 0; i < r->ncols; i++) {
        if (i > 0)
            strbuf_append_char(&r->json, ',');
        append_cell(r, i, row[i], lengths[i]);
    }
    strbuf_append_char(&r->json, ']');
    if (r->max_bytes > 0 && r->json.len > r->max_bytes) {
        r->json.len = before;
        r->json.data[before] = '\0';
        r->cut = SQLRESULT_BYTES;
        return false;
    }
    r->rows++;
    return true;
}

void sqlresult_finish(struct sqlresult *r)
{
    if (r->rows > 0)
        strbuf_append_char(&r->json, ']');
    if (r->cut != SQLRESULT_WHOLE)
        strbuf_append_str(&r->json, ",\"truncated\":true");
    strbuf_append_char(&r->json, '}');
}

void sqlresult_affected(struct sqlresult *r, uint64_t n)
{
    strbuf_reset(&r->json);
    strbuf_append_str(&r->json, "{\"columns\":[\"affected_rows\"],\"rows\":[[");
    strbuf_append_int64(&r->json, (int64_t)n);
    strbuf_append_str(&r->json, "]]}");
}

void sqlresult_free(struct sqlresult *r)
{
    strbuf_free(&r->json);
    free(r->binary);
    r->binary = NULL;
}
