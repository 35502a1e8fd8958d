/* The value syntaxes of settings: Go durations, byte sizes, the kernel pool list. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "config.h"
#include "xalloc.h"

int config_parse_duration_ms(const char *s, int64_t *out_ms)
{
    static const struct {
        const char *name;
        double ns;
    } units[] = {{"ns", 1},  {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6},
                 {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    const char *p = s;
    double sign = 1, total_ns = 0;

    if (*p == '-' || *p == '+')
        sign = *p++ == '-' ? -1 : 1;
    if (strcmp(p, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    if (*p == '\0')
        return -1;
    while (*p != '\0') {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno != 0)
            return -1;
        p = end;
        size_t best = 0;
        double mult = 0;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
            size_t n = strlen(units[i].name);
            if (strncmp(p, units[i].name, n) == 0 && n > best) {
                best = n;
                mult = units[i].ns;
            }
        }
        if (best == 0)
            return -1; /* Go requires a unit on every number */
        p += best;
        total_ns += v * mult;
    }
    if (total_ns > 9.2e18)
        return -1;
    *out_ms = (int64_t)(sign * total_ns / 1e6);
    return 0;
}

int config_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    uint64_t mult = 1;
    switch (toupper((unsigned char)*end)) {
    case '\0':
        break;
    case 'K':
        mult = 1ull << 10;
        break;
    case 'M':
        mult = 1ull << 20;
        break;
    case 'G':
        mult = 1ull << 30;
        break;
    case 'T':
        mult = 1ull << 40;
        break;
    default:
        return -1;
    }
    if (*end != '\0') {
        end++;
        if (strcasecmp(end, "") != 0 && strcasecmp(end, "B") != 0 && strcasecmp(end, "iB") != 0)
            return -1;
    }
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

#define POOL_MAX_PER_LANGUAGE 64

/* s[0..len) without blanks around it. */
static void trim(const char **s, const char **end)
{
    while (*s < *end && isspace((unsigned char)**s))
        (*s)++;
    while (*end > *s && isspace((unsigned char)(*end)[-1]))
        (*end)--;
}

/* A count of 0..POOL_MAX_PER_LANGUAGE written in decimal digits; -1 if it is none. */
static long pool_count(const char *num, const char *end)
{
    long count = 0;
    if (num == end)
        return -1;
    for (const char *d = num; d < end; d++) {
        if (!isdigit((unsigned char)*d) || count > POOL_MAX_PER_LANGUAGE)
            return -1;
        count = count * 10 + (*d - '0');
    }
    return count > POOL_MAX_PER_LANGUAGE ? -1 : count;
}

/* One "language:count" pair in [b, e), added to seen. Returns 0 or -1 (err). */
static int pool_entry(const char *b, const char *e, json_object *seen, struct strbuf *err)
{
    const char *colon = memchr(b, ':', (size_t)(e - b));
    const char *name_end = colon != NULL ? colon : e;
    trim(&b, &name_end);
    if (colon == NULL || name_end == b) {
        strbuf_printf(err, "\"%.*s\" is not language:count", (int)(e - b), b);
        return -1;
    }
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(name_end - b), b);
    const char *num = colon + 1;
    trim(&num, &e);
    long count = pool_count(num, e);
    if (count < 0) {
        strbuf_printf(err, "the count of %s must be an integer from 0 to %d", name,
                      POOL_MAX_PER_LANGUAGE);
        return -1;
    }
    if (json_object_object_get_ex(seen, name, NULL)) {
        strbuf_printf(err, "%s is listed twice", name);
        return -1;
    }
    json_object_object_add(seen, name, xjson_int64(count));
    return 0;
}

int config_parse_pool(const char *s, json_object *out, struct strbuf *err)
{
    json_object *seen = xjson_object();
    int rc = 0;
    for (const char *p = s; rc == 0 && *p != '\0';) {
        const char *comma = strchr(p, ',');
        const char *b = p, *e = comma != NULL ? comma : p + strlen(p);
        p = comma != NULL ? comma + 1 : e;
        trim(&b, &e);
        if (b != e) /* else "python:1," */
            rc = pool_entry(b, e, seen, err);
    }
    int total = 0;
    if (rc == 0) {
        json_object_object_foreach(seen, key, val)
        {
            total += json_object_get_int(val);
            if (out != NULL)
                json_object_object_add(out, key, json_object_get(val));
        }
    }
    json_object_put(seen);
    return rc < 0 ? rc : total;
}
