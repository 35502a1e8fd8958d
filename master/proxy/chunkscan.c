#include "proxy/chunkscan.h"

#include <string.h>

#include "common.h"

void chunkscan_init(struct chunkscan *s)
{
    memset(s, 0, sizeof(*s));
    s->state = CS_SIZE;
}

/* A line end seen in state s: where the scan goes next. */
static enum chunkscan_state after_size_line(struct chunkscan *s)
{
    if (s->digits == 0)
        return CS_ERROR;
    return s->left == 0 ? CS_TRAILER : CS_DATA;
}

static void step(struct chunkscan *s, char c)
{
    switch (s->state) {
    case CS_SIZE: {
        int v = hex_digit(c);
        if (v >= 0) {
            if (s->digits++ == 15)
                s->state = CS_ERROR; /* larger than 2^60 */
            s->left = s->left * 16 + (uint64_t)v;
        } else if (c == '\n') {
            s->state = after_size_line(s);
        } else if (c == ';' || c == ' ' || c == '\t' || c == '\r') {
            s->state = CS_EXT;
        } else {
            s->state = CS_ERROR;
        }
        break;
    }
    case CS_EXT:
        if (c == '\n')
            s->state = after_size_line(s);
        break;
    case CS_DATA_END:
        if (c == '\n') {
            s->state = CS_SIZE;
            s->digits = 0;
            s->left = 0;
        } else if (c != '\r' || s->line_bytes) {
            s->state = CS_ERROR;
        } else {
            s->line_bytes = true;
        }
        break;
    case CS_TRAILER:
        s->state = c == '\n' ? CS_DONE : c == '\r' ? CS_TRAILER : CS_TRAILER_LINE;
        break;
    case CS_TRAILER_LINE:
        if (c == '\n')
            s->state = CS_TRAILER;
        break;
    default:
        break;
    }
}

size_t chunkscan_feed(struct chunkscan *s, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && s->state != CS_DONE && s->state != CS_ERROR) {
        if (s->state == CS_DATA) {
            size_t take = s->left < n - i ? (size_t)s->left : n - i;
            i += take;
            s->left -= take;
            if (s->left == 0) {
                s->state = CS_DATA_END;
                s->line_bytes = false;
            }
            continue;
        }
        step(s, p[i++]);
    }
    return i;
}
