/* The search glob dialect: every vector of t/data/glob-vectors.tsv, plus our own cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "files/glob.h"
#include "strbuf.h"

#ifndef EXECD_TEST_SRCDIR
#define EXECD_TEST_SRCDIR "."
#endif

/* The vectors are kept in the repository (t/data), so a clone or a tarball tests itself. */
static FILE *open_vectors(void)
{
    const char *srcdir = getenv("EXECD_SRCDIR");
    struct strbuf path = STRBUF_INIT;
    FILE *f;

    strbuf_printf(&path, "%s/t/data/glob-vectors.tsv",
                  srcdir != NULL && srcdir[0] != '\0' ? srcdir : EXECD_TEST_SRCDIR);
    f = fopen(path.data, "r");
    if (f == NULL)
        fprintf(stderr, "# cannot open %s\n", path.data);
    strbuf_free(&path);
    return f;
}

/* Decodes one JSON string field (the vectors quote patterns and paths as JSON). */
static char *json_field(const char *text)
{
    json_object *o = json_tokener_parse(text);
    char *s = NULL;
    if (o != NULL && json_object_is_type(o, json_type_string))
        s = strdup(json_object_get_string(o));
    json_object_put(o);
    return s;
}

static void test_vectors(void **state)
{
    (void)state;
    FILE *f = open_vectors();
    assert_non_null(f);

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int total = 0, failures = 0, lineno = 0;

    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (lineno == 1) /* header */
            continue;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        char *fields[4];
        char *save = NULL;
        int nf = 0;
        for (char *tok = strtok_r(line, "\t", &save); tok != NULL && nf < 4;
             tok = strtok_r(NULL, "\t", &save))
            fields[nf++] = tok;
        assert_int_equal(nf, 4);

        char *pattern = json_field(fields[0]);
        char *path = json_field(fields[1]);
        assert_non_null(pattern);
        assert_non_null(path);
        int want_match = atoi(fields[2]);
        int want_bad = atoi(fields[3]);

        int got = glob_match(pattern, path);
        int want = want_bad ? GLOB_EBADPAT : (want_match ? GLOB_MATCH : GLOB_NOMATCH);
        if (got != want) {
            failures++;
            fprintf(stderr, "# line %d: pattern %s path %s: got %d, want %d\n", lineno, fields[0],
                    fields[1], got, want);
        }
        /* Validity never depends on the path. */
        if (glob_valid(pattern) != !want_bad) {
            failures++;
            fprintf(stderr, "# line %d: glob_valid(%s) wrong\n", lineno, fields[0]);
        }
        total++;
        free(pattern);
        free(path);
    }
    free(line);
    fclose(f);
    fprintf(stderr, "# %d vectors, %d failures\n", total, failures);
    assert_true(total >= 150);
    assert_int_equal(failures, 0);
}

struct gcase {
    const char *pattern;
    const char *path;
    int want;
};

static void check_cases(const struct gcase *c, size_t n)
{
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        int got = glob_match(c[i].pattern, c[i].path);
        if (got != c[i].want) {
            failures++;
            fprintf(stderr, "# pattern '%s' path '%s': got %d, want %d\n", c[i].pattern, c[i].path,
                    got, c[i].want);
        }
    }
    assert_int_equal(failures, 0);
}

/* runtime-behavior.md §13 "Utilities": the key cases, restated. */
static void test_checklist(void **state)
{
    (void)state;
    static const struct gcase cases[] = {
        {"*", "a/b", GLOB_NOMATCH},
        {"a*/b", "abc/b", GLOB_MATCH},
        {"a*/b", "a/c/b", GLOB_NOMATCH},
        {"ab[^c]", "abd", GLOB_MATCH},
        {"ab[!c]", "abc", GLOB_NOMATCH},
        {"[]a]", "a", GLOB_EBADPAT},
        {"ab[", "ab", GLOB_EBADPAT},
        {"ab\\", "ab", GLOB_EBADPAT},
        {"**/c", "c", GLOB_MATCH},
        {"**/c", "b/c", GLOB_MATCH},
        {"**/c", "a/b/c", GLOB_MATCH},
        {"a/**", "a", GLOB_MATCH},
        {"a/**", "a/", GLOB_MATCH},
        {"a/**", "a/b/c", GLOB_MATCH},
        {"abc**", "abc/b", GLOB_NOMATCH},
        {"ab{c,d,*}", "abcde", GLOB_MATCH},
        {"a{,bc}", "a", GLOB_MATCH},
        {"a{,bc}", "abc", GLOB_MATCH},
        {"node_modules/!(.cache)/**", "node_modules/.cache/x", GLOB_NOMATCH},
        {"node_modules/!(.cache)/**", "node_modules/src/x", GLOB_MATCH},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* How /files/search uses it: patterns against base names only. */
static void test_base_names(void **state)
{
    (void)state;
    static const struct gcase cases[] = {
        {"*.txt", "notes.txt", GLOB_MATCH},
        {"*.txt", "notes.txt.bak", GLOB_NOMATCH},
        {"**/*.py", "main.py", GLOB_MATCH},
        {"**", "anything at all", GLOB_MATCH},
        {"src/*.py", "main.py", GLOB_NOMATCH},
        {"*.{c,h}", "glob.h", GLOB_MATCH},
        {"*.{c,h}", "glob.o", GLOB_NOMATCH},
        {"测试*", "测试.txt", GLOB_MATCH},
        {"?.txt", "测.txt", GLOB_MATCH},
        {"??.txt", "测.txt", GLOB_NOMATCH},
        {"[测试]*", "试验", GLOB_MATCH},
        {"my file*", "my file.txt", GLOB_MATCH},
        {".*", ".bashrc", GLOB_MATCH},
        {"*", ".hidden", GLOB_MATCH},
        {"A*", "abc", GLOB_NOMATCH}, /* case-sensitive */
        /* invalid UTF-8 in names: one byte is one character */
        {"a?b", "a\377b", GLOB_MATCH},
        {"a??b", "a\377b", GLOB_NOMATCH},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Our decisions where the Go daemon errs or is undefined (documented in glob.h). */
static void test_extensions(void **state)
{
    (void)state;
    static const struct gcase cases[] = {
        /* a '!' without '(' is literal (Go: invalid pattern) */
        {"hello!.txt", "hello!.txt", GLOB_MATCH},
        {"!", "!", GLOB_MATCH},
        {"a!", "a!", GLOB_MATCH},
        /* negation */
        {"!(*.txt)", "a.txt", GLOB_NOMATCH},
        {"!(*.txt)", "a.py", GLOB_MATCH},
        {"!(a|b)", "a", GLOB_NOMATCH},
        {"!(a|b)", "b", GLOB_NOMATCH},
        {"!(a|b)", "c", GLOB_MATCH},
        {"!({a,b})", "b", GLOB_NOMATCH},
        {"x!(y)z", "xyz", GLOB_NOMATCH},
        {"x!(y)z", "xqz", GLOB_MATCH},
        {"!()", "", GLOB_NOMATCH},
        {"!()", "a", GLOB_MATCH},
        {"!(a", "a", GLOB_EBADPAT},
        {"!(a}", "a", GLOB_EBADPAT},
        {"a)", "a)", GLOB_MATCH},
        {"a|b", "a|b", GLOB_MATCH},
        {"a,b", "a,b", GLOB_MATCH},
        {"{a|b,c}", "a|b", GLOB_MATCH},
        /* braces */
        {"{", "{", GLOB_EBADPAT},
        {"}", "}", GLOB_EBADPAT},
        {"a}b", "a}b", GLOB_EBADPAT},
        {"{a,{b,c}", "a", GLOB_EBADPAT},
        {"{}", "", GLOB_MATCH},
        {"x{}y", "xy", GLOB_MATCH},
        {"{a,b}{c,d}", "bd", GLOB_MATCH},
        {"{a,b}{c,d}", "bb", GLOB_NOMATCH},
        {"{[}],x}", "}", GLOB_MATCH}, /* classes are skipped when looking for '}' */
        {"{a/**,b}", "a", GLOB_MATCH},
        {"{a/**,b}", "a/b/c", GLOB_MATCH},
        /* classes */
        {"[a-]", "-", GLOB_MATCH},
        {"[\\\\]", "\\", GLOB_MATCH},
        {"[a\\]b]", "]", GLOB_MATCH},
        {"[^/]", "/", GLOB_NOMATCH}, /* never across segments */
        {"[!a]", "", GLOB_NOMATCH},
        {"\\/", "/", GLOB_MATCH},
        {"\\a\\*", "a*", GLOB_MATCH},
        {"***", "abc", GLOB_MATCH},
        {"***/x", "a/b/x", GLOB_MATCH},
        {"a**b", "axxb", GLOB_MATCH},
        {"a**b", "ax/xb", GLOB_NOMATCH},
        {"**x", "abx", GLOB_MATCH},
        {"**x", "a/bx", GLOB_NOMATCH},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_limits(void **state)
{
    (void)state;
    /* Nesting beyond the limit is refused rather than recursing deeply. */
    struct strbuf p = STRBUF_INIT;
    for (int i = 0; i < 100; i++)
        strbuf_append_char(&p, '{');
    for (int i = 0; i < 100; i++)
        strbuf_append_char(&p, '}');
    assert_int_equal(glob_match(p.data, ""), GLOB_EBADPAT);
    strbuf_reset(&p);
    for (int i = 0; i < 60; i++)
        strbuf_append_char(&p, '{');
    strbuf_append_char(&p, 'a');
    for (int i = 0; i < 60; i++)
        strbuf_append_char(&p, '}');
    assert_int_equal(glob_match(p.data, "a"), GLOB_MATCH);

    /* Too long a pattern. */
    strbuf_reset(&p);
    for (int i = 0; i < GLOB_MAX_PATTERN + 1; i++)
        strbuf_append_char(&p, 'a');
    assert_int_equal(glob_match(p.data, "a"), GLOB_EBADPAT);
    assert_int_equal(glob_valid(p.data), 0);
    strbuf_free(&p);

    /* Compile once, match many. */
    struct glob *g;
    assert_int_equal(glob_compile("*.c", &g), 0);
    assert_int_equal(glob_exec(g, "x.c", 3), GLOB_MATCH);
    assert_int_equal(glob_exec(g, "x.c.o", 5), GLOB_NOMATCH);
    assert_int_equal(glob_exec(g, "x.c/", 3), GLOB_MATCH); /* length, not NUL, ends the path */
    glob_free(g);
    assert_int_equal(glob_compile("[", &g), GLOB_EBADPAT);
    assert_null(g);
    glob_free(NULL);
}

/* Patterns that are exponential for a naive backtracker stay fast. */
static void test_pathological(void **state)
{
    (void)state;
    struct strbuf name = STRBUF_INIT, pat = STRBUF_INIT;
    for (int i = 0; i < 4000; i++)
        strbuf_append_char(&name, 'a');
    for (int i = 0; i < 30; i++)
        strbuf_append_str(&pat, "*a");
    strbuf_append_str(&pat, "*b");

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(glob_match(pat.data, name.data), GLOB_NOMATCH);
    strbuf_reset(&pat);
    for (int i = 0; i < 20; i++)
        strbuf_append_str(&pat, "{a,aa,*}");
    strbuf_append_str(&pat, "b");
    assert_int_equal(glob_match(pat.data, name.data), GLOB_NOMATCH);
    strbuf_reset(&pat);
    for (int i = 0; i < 10; i++)
        strbuf_append_str(&pat, "**/");
    strbuf_append_str(&pat, "b");
    strbuf_reset(&name);
    for (int i = 0; i < 400; i++)
        strbuf_append_str(&name, "a/");
    strbuf_append_str(&name, "c");
    assert_int_equal(glob_match(pat.data, name.data), GLOB_NOMATCH);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "# pathological patterns took %.3f s\n", secs);
    assert_true(secs < 20.0); /* generous: valgrind runs are slow */
    strbuf_free(&name);
    strbuf_free(&pat);
}

/*
 * Allocations while `counting`: the test is linked with --wrap for malloc,
 * calloc and realloc (t/Makefile.inc).
 */
static bool counting;
static size_t allocations;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
    allocations += counting;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    allocations += counting;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    allocations += counting;
    return __real_realloc(p, n);
}

/* A search matches one pattern against every name of a tree: no allocation per name. */
static void test_memo_reused(void **state)
{
    (void)state;
    struct glob *g;
    char name[256];
    memset(name, 'q', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(glob_compile("{*a*,*b*,*c*,*d*}{x,y,z}*{e,f}?*!(g*)h", &g), 0);
    counting = true;
    allocations = 0;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(glob_exec(g, name, sizeof(name) - 1 - (size_t)(i % 7)), GLOB_NOMATCH);
    counting = false;
    assert_true(allocations <= 1);
    glob_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),     cmocka_unit_test(test_checklist),
        cmocka_unit_test(test_base_names),  cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_pathological),
        cmocka_unit_test(test_memo_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
