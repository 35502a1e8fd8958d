/* Small definitions every module uses. */
#ifndef EXECD_COMMON_H
#define EXECD_COMMON_H

#include <stddef.h>

/* Callback parameters required by a library signature but not needed. */
#define EXECD_UNUSED __attribute__((unused))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The value of a hexadecimal digit, or -1. */
static inline int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
