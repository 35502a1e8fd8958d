/* Small definitions every module uses. */
#ifndef EXECD_COMMON_H
#define EXECD_COMMON_H

#include <stddef.h>

/* Callback parameters required by a library signature but not needed. */
#define EXECD_UNUSED __attribute__((unused))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
