#include "sql/sqlstmt.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Skips blanks, comments (-- to the end of the line, # likewise, C style) and '('. */
static size_t skip_noise(const char *s, size_t len, size_t i)
{
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c) || c == '(') {
            i++;
        } else if (c == '#' || (c == '-' && i + 2 < len && s[i + 1] == '-' &&
                                isspace((unsigned char)s[i + 2]))) {
            while (i < len && s[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < len && s[i + 1] == '*') {
            const char *end = memmem(s + i + 2, len - i - 2, "*/", 2);
            i = end != NULL ? (size_t)(end - s) + 2 : len;
        } else {
            break;
        }
    }
    return i;
}

bool sqlstmt_is_query(const char *sql, size_t len)
{
    static const char *const queries[] = {"SELECT", "WITH", "SHOW",     "VALUES",
                                          "TABLE",  "DESC", "DESCRIBE", "EXPLAIN"};
    size_t i = skip_noise(sql, len, 0);
    size_t n = 0;
    while (i + n < len && isalpha((unsigned char)sql[i + n]))
        n++;
    for (size_t k = 0; k < sizeof(queries) / sizeof(queries[0]); k++) {
        if (strlen(queries[k]) == n && strncasecmp(sql + i, queries[k], n) == 0)
            return true;
    }
    return false;
}
