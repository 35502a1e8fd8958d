/*
 * The glob dialect of GET /files/search (the Go daemon vendors a doublestar
 * variant; spec/glob-vectors.tsv is its test table and ours).
 *
 *   *        any run of characters except '/'
 *   ?        one character (UTF-8 code point) except '/'
 *   [abc]    one character of a class; ranges [a-z]; negation [!x] / [^x];
 *            '\' escapes inside; '-' first, last or right after a range is
 *            literal; an empty class "[]" is an error. Never matches '/'.
 *   {a,b}    alternatives, nestable, may be empty ("a{,bc}"), may contain '/'
 *   **       starting a segment and followed by '/' or the pattern's end:
 *            zero or more whole segments; "a/" + "**" also matches "a" (a may
 *            be a directory). Anywhere else it is a plain '*'.
 *   !(x)     negation: "!(x)rest" matches what "x" + "rest" does NOT match at
 *            that point (the Go daemon's semantics). Unlike Go, "|" separates
 *            alternatives inside, as in bash: "!(a|b)" == "!({a,b})".
 *   \c       the character c literally
 *
 * Invalid patterns: a trailing '\', an unterminated or empty class, an
 * unbalanced '{' / '}' / "!(", groups nested more than 64 deep, or a
 * pattern longer than GLOB_MAX_PATTERN.
 * The whole pattern is validated up front, so validity never depends on the
 * path it is matched against (Go's answer could).
 *
 * A '!' that is not followed by '(' is a literal character ("hello!.txt"
 * works; the Go daemon answers such patterns with "invalid pattern").
 *
 * Matching is case-sensitive, dot files are not special, and the run time is
 * polynomial (memoised), so hostile patterns like "*a*a*a*a*b" stay cheap.
 */
#ifndef EXECD_GLOB_H
#define EXECD_GLOB_H

#include <stddef.h>

enum {
    GLOB_MATCH = 1,
    GLOB_NOMATCH = 0,
    GLOB_EBADPAT = -1,
    GLOB_ENOMEM = -2,
};

/* Longer patterns are rejected as invalid (bounds time, memory and stack). */
#define GLOB_MAX_PATTERN 1024

struct glob;

/* Compiles pattern. Returns 0 and *out, or GLOB_EBADPAT / GLOB_ENOMEM. */
int glob_compile(const char *pattern, struct glob **out);
/*
 * Matches path[0..len) against a compiled pattern: GLOB_MATCH, GLOB_NOMATCH or
 * GLOB_ENOMEM. g keeps its memo table for the next match (so one glob is used by
 * one thread at a time).
 */
int glob_exec(struct glob *g, const char *path, size_t len);
void glob_free(struct glob *g);

/* One-shot compile + match: GLOB_MATCH, GLOB_NOMATCH, GLOB_EBADPAT or GLOB_ENOMEM. */
int glob_match(const char *pattern, const char *path);
/* 1 when pattern is valid, 0 when not (-2 on allocation failure). */
int glob_valid(const char *pattern);

#endif
