#include "ids.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

static void random_uuid(uint8_t u[16])
{
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(u + got, 16 - got, 0);
        if (n < 0) {
            /* getrandom only fails on a kernel without it: nothing sane to do. */
            perror("execd: getrandom");
            abort();
        }
        got += (size_t)n;
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

void ids_uuid_hex(char *out)
{
    uint8_t u[16];
    random_uuid(u);
    for (int i = 0; i < 16; i++)
        snprintf(out + i * 2, 3, "%02x", u[i]);
}

void ids_uuid_dashed(char *out)
{
    uint8_t u[16];
    random_uuid(u);
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        snprintf(p, 3, "%02x", u[i]);
        p += 2;
    }
    *p = '\0';
}
