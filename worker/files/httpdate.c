#include "files/httpdate.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const wdays[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wdays_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void httpdate_format(time_t t, char out[HTTPDATE_LEN])
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) { /* a year beyond struct tm: never for a file's mtime */
        snprintf(out, HTTPDATE_LEN, "Thu, 01 Jan 1970 00:00:00 GMT");
        return;
    }
    /* The moduli only bound the widths for the compiler; no real file date reaches them. */
    snprintf(out, HTTPDATE_LEN, "%s, %02u %s %04u %02u:%02u:%02u GMT", wdays[tm.tm_wday % 7],
             (unsigned)tm.tm_mday % 100u, months[tm.tm_mon % 12],
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}

/* A cursor over the text being parsed; every reader advances it or fails. */
struct cur {
    const char *p;
    bool ok;
};

static void lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if (c->ok && strncmp(c->p, s, n) == 0)
        c->p += n;
    else
        c->ok = false;
}

/* Exactly n digits (a leading blank stands for a zero when pad is set: asctime's day). */
static int digits(struct cur *c, int n, bool pad)
{
    int v = 0;
    for (int i = 0; i < n && c->ok; i++) {
        char ch = c->p[i];
        if (ch >= '0' && ch <= '9')
            v = v * 10 + (ch - '0');
        else if (!(pad && i == 0 && ch == ' '))
            c->ok = false;
    }
    if (c->ok)
        c->p += n;
    return v;
}

/* One name of the table (names of a table never prefix each other). */
static int name(struct cur *c, const char *const *table, int n)
{
    for (int i = 0; i < n && c->ok; i++) {
        size_t len = strlen(table[i]);
        if (strncmp(c->p, table[i], len) == 0) {
            c->p += len;
            return i;
        }
    }
    c->ok = false;
    return 0;
}

static void clock_part(struct cur *c, struct tm *tm)
{
    tm->tm_hour = digits(c, 2, false);
    lit(c, ":");
    tm->tm_min = digits(c, 2, false);
    lit(c, ":");
    tm->tm_sec = digits(c, 2, false);
}

static bool finish(struct cur *c, struct tm *tm, time_t *out)
{
    if (!c->ok || *c->p != '\0' || tm->tm_mday < 1 || tm->tm_mday > 31 || tm->tm_hour > 23 ||
        tm->tm_min > 59 || tm->tm_sec > 60)
        return false;
    *out = timegm(tm);
    return *out != (time_t)-1;
}

int httpdate_parse(const char *s, time_t *out)
{
    struct tm tm;
    struct cur c;

    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    memset(&tm, 0, sizeof(tm));
    c = (struct cur){s, true};
    name(&c, wdays, 7);
    lit(&c, ", ");
    tm.tm_mday = digits(&c, 2, false);
    lit(&c, " ");
    tm.tm_mon = name(&c, months, 12);
    lit(&c, " ");
    tm.tm_year = digits(&c, 4, false) - 1900;
    lit(&c, " ");
    clock_part(&c, &tm);
    lit(&c, " GMT");
    if (finish(&c, &tm, out))
        return 0;

    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years as Go reads them). */
    memset(&tm, 0, sizeof(tm));
    c = (struct cur){s, true};
    name(&c, wdays_long, 7);
    lit(&c, ", ");
    tm.tm_mday = digits(&c, 2, false);
    lit(&c, "-");
    tm.tm_mon = name(&c, months, 12);
    lit(&c, "-");
    int yy = digits(&c, 2, false);
    tm.tm_year = yy >= 69 ? yy : yy + 100;
    lit(&c, " ");
    clock_part(&c, &tm);
    lit(&c, " GMT");
    if (finish(&c, &tm, out))
        return 0;

    /* asctime: Sun Nov  6 08:49:37 1994 */
    memset(&tm, 0, sizeof(tm));
    c = (struct cur){s, true};
    name(&c, wdays, 7);
    lit(&c, " ");
    tm.tm_mon = name(&c, months, 12);
    lit(&c, " ");
    tm.tm_mday = digits(&c, 2, true);
    lit(&c, " ");
    clock_part(&c, &tm);
    lit(&c, " ");
    tm.tm_year = digits(&c, 4, false) - 1900;
    if (finish(&c, &tm, out))
        return 0;
    return -1;
}
