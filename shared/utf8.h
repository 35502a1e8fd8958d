/* UTF-8 validation: output text reaches clients as JSON strings, which must be valid UTF-8. */
#ifndef EXECD_UTF8_H
#define EXECD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Length of the valid UTF-8 sequence starting at s (1..4), or 0 when the
 * bytes at s are not a valid (complete, shortest-form, non-surrogate) sequence.
 */
size_t utf8_valid_seq(const unsigned char *s, size_t avail);

/* Whether all of s[0..len) is valid UTF-8. */
bool utf8_valid(const char *s, size_t len);

/*
 * Largest n <= len such that cutting s at n does not split a sequence that
 * would be valid if complete. Used to cap long lines without tearing
 * characters.
 */
size_t utf8_cut(const char *s, size_t len);

#endif
