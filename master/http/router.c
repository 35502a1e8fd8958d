#include "http/router.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

int router_unescape(const char *s, size_t len, bool plus_is_space, struct strbuf *out)
{
    strbuf_reset(out);
    strbuf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            strbuf_append_char(out, (char)(hi * 16 + lo));
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            strbuf_append_char(out, ' ');
        } else {
            strbuf_append_char(out, s[i]);
        }
    }
    return 0;
}

/* Next segment of a '/'-separated path; returns its length, advancing *p. */
static size_t next_segment(const char **p, const char *end, const char **seg)
{
    if (*p < end && **p == '/')
        (*p)++;
    *seg = *p;
    while (*p < end && **p != '/')
        (*p)++;
    return (size_t)(*p - *seg);
}

/* Matches path against pattern; on success stores raw {param} slices. */
static bool match_path(const char *pattern, const char *path, size_t path_len, const char **pstart,
                       size_t *plen)
{
    const char *pp = pattern, *pend = pattern + strlen(pattern);
    const char *rp = path, *rend = path + path_len;
    int n = 0;

    while (pp < pend || rp < rend) {
        if (pend - pp == 2 && memcmp(pp, "/*", 2) == 0)
            return true; /* a final "*" takes whatever is left */
        if (pp >= pend || rp >= rend)
            return false;
        const char *pseg, *rseg;
        size_t pl = next_segment(&pp, pend, &pseg);
        size_t rl = next_segment(&rp, rend, &rseg);
        if (pl > 1 && pseg[0] == '{') {
            if (rl == 0 || n >= HTTP_MAX_PARAMS)
                return false;
            pstart[n] = rseg;
            plen[n] = rl;
            n++;
        } else if (pl != rl || memcmp(pseg, rseg, pl) != 0) {
            return false;
        }
    }
    return true;
}

enum router_result router_match(const char *method, const char *path, const struct route **out,
                                char **params, struct strbuf *allow)
{
    size_t len = strlen(path);
    bool path_found = false;

    if (len > 1 && path[len - 1] == '/')
        len--;
    for (size_t i = 0; i < routes_count; i++) {
        const char *pstart[HTTP_MAX_PARAMS];
        size_t plen[HTTP_MAX_PARAMS];
        if (!match_path(routes[i].pattern, path, len, pstart, plen))
            continue;
        if (strcmp(routes[i].method, "*") != 0 && strcmp(routes[i].method, method) != 0) {
            if (allow->len > 0)
                strbuf_append_str(allow, ", ");
            strbuf_append_str(allow, routes[i].method);
            path_found = true;
            continue;
        }
        int n = 0;
        for (const char *c = routes[i].pattern; *c; c++)
            n += *c == '{';
        for (int k = 0; k < n; k++) {
            struct strbuf dec = STRBUF_INIT;
            if (router_unescape(pstart[k], plen[k], false, &dec) < 0) {
                strbuf_reset(&dec);
                strbuf_append(&dec, pstart[k], plen[k]);
            }
            params[k] = strbuf_detach(&dec);
        }
        *out = &routes[i];
        return ROUTER_FOUND;
    }
    return path_found ? ROUTER_NO_METHOD : ROUTER_NO_PATH;
}
