#include "core/evsplit.h"

#include <string.h>

size_t evsplit_last(const char *p, size_t len)
{
    for (size_t i = len; i >= 2; i--) {
        if (p[i - 1] == '\n' && p[i - 2] == '\n')
            return i;
    }
    return 0;
}

size_t evsplit_prefix(const char *p, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = evsplit_last(p, max);
    if (n > 0)
        return n;
    const char *end = memmem(p, len, "\n\n", 2);
    return end != NULL ? (size_t)(end - p) + 2 : len;
}
