/*
 * The head of a backend's HTTP/1.x response, as the port proxy reads it: the status line
 * and the header fields, parsed in place in a buffer that holds the whole head (up to and
 * including the empty line).
 */
#ifndef EXECD_RESPHEAD_H
#define EXECD_RESPHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A head is at most this long, with at most this many fields; beyond, it is refused. */
#define RESPHEAD_MAX_BYTES (64 * 1024)
#define RESPHEAD_MAX_FIELDS 128

struct resphead_field {
    const char *name;
    size_t name_len;
    const char *value; /* without surrounding blanks */
    size_t value_len;
};

struct resphead {
    int minor; /* HTTP/1.<minor> */
    int status;
    const char *reason;
    size_t reason_len;
    struct resphead_field fields[RESPHEAD_MAX_FIELDS];
    int n_fields;
};

/*
 * The length of the head at the start of buf (through its empty line), 0 when it is not
 * complete yet, or -1 when it is too long. The answer for a prefix of buf is the same
 * unless the head ends beyond it.
 */
long resphead_length(const char *buf, size_t len);
/*
 * Parses a complete head of length len (from resphead_length). Returns 0 or -1. The
 * reason and the values of a parsed head hold no CR, LF or NUL; names are printable
 * ASCII without blanks or colons.
 */
int resphead_parse(const char *buf, size_t len, struct resphead *out);
/* The value of the first field named name (any case), or NULL; its length in *len. */
const char *resphead_get(const struct resphead *h, const char *name, size_t *len);
/* Whether a comma-separated field value lists token (any case): "keep-alive, Upgrade". */
bool resphead_has_token(const char *value, size_t len, const char *token);

#endif
