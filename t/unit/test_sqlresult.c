/* The SQL executor's pure parts: result texts and their caps, and naming a statement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sql/sqlresult.h"
#include "sql/sqlstmt.h"

static MYSQL_FIELD field(const char *name, enum enum_field_types type, unsigned charset)
{
    MYSQL_FIELD f;
    memset(&f, 0, sizeof(f));
    f.name = (char *)name;
    f.name_length = (unsigned)strlen(name);
    f.type = type;
    f.charsetnr = charset;
    return f;
}

/* Adds a row of NUL-terminated cells (NULL: SQL NULL), or one with explicit lengths. */
static bool add(struct sqlresult *r, char **cells, const unsigned long *lengths)
{
    unsigned long lens[8];
    for (unsigned i = 0; i < r->ncols; i++)
        lens[i] = lengths != NULL ? lengths[i] : cells[i] != NULL ? strlen(cells[i]) : 0;
    return sqlresult_row(r, cells, lens);
}

static void test_cells(void **state)
{
    (void)state;
    MYSQL_FIELD f[] = {field("id", MYSQL_TYPE_LONG, 63), field("name", MYSQL_TYPE_VAR_STRING, 45),
                       field("blob", MYSQL_TYPE_BLOB, 63), field("bits", MYSQL_TYPE_BIT, 63),
                       field("d\"t", MYSQL_TYPE_DATE, 63)};
    struct sqlresult r;
    sqlresult_init(&r, 0, 0);
    sqlresult_columns(&r, f, 5);
    char *row1[] = {"1", "Zoë <&>", "text", "\x01", "2024-01-02"};
    char *row2[] = {"2", NULL, "\x00\xff\x10", "A", NULL};
    const unsigned long len2[] = {1, 0, 3, 1, 0};
    assert_true(add(&r, row1, NULL));
    assert_true(add(&r, row2, len2));
    sqlresult_finish(&r);
    assert_string_equal(r.json.data,
                        "{\"columns\":[\"id\",\"name\",\"blob\",\"bits\",\"d\\\"t\"],"
                        "\"rows\":[[\"1\",\"Zoë \\u003c\\u0026\\u003e\",\"text\",\"\\u0001\","
                        "\"2024-01-02\"],[\"2\",null,\"0x00FF10\",\"A\",null]]}");
    assert_int_equal(r.cut, SQLRESULT_WHOLE);
    sqlresult_free(&r);
}

static void test_text_not_hex(void **state)
{
    (void)state;
    /* A text column with broken bytes stays text: they become U+FFFD, not hex. */
    MYSQL_FIELD f[] = {field("t", MYSQL_TYPE_STRING, 224)};
    struct sqlresult r;
    sqlresult_init(&r, 0, 0);
    sqlresult_columns(&r, f, 1);
    char *row[] = {"a\xff"};
    assert_true(add(&r, row, NULL));
    sqlresult_finish(&r);
    assert_string_equal(r.json.data, "{\"columns\":[\"t\"],\"rows\":[[\"a\\ufffd\"]]}");
    sqlresult_free(&r);
}

static void test_empty_and_affected(void **state)
{
    (void)state;
    MYSQL_FIELD f[] = {field("a", MYSQL_TYPE_LONG, 63), field("b", MYSQL_TYPE_LONG, 63)};
    struct sqlresult r;
    sqlresult_init(&r, 0, 0);
    sqlresult_columns(&r, f, 2);
    sqlresult_finish(&r);
    assert_string_equal(r.json.data, "{\"columns\":[\"a\",\"b\"]}");
    sqlresult_free(&r);

    sqlresult_init(&r, 0, 0);
    sqlresult_affected(&r, 3);
    assert_string_equal(r.json.data, "{\"columns\":[\"affected_rows\"],\"rows\":[[3]]}");
    sqlresult_free(&r);
}

static void test_row_cap(void **state)
{
    (void)state;
    MYSQL_FIELD f[] = {field("n", MYSQL_TYPE_LONG, 63)};
    struct sqlresult r;
    sqlresult_init(&r, 2, 0);
    sqlresult_columns(&r, f, 1);
    char *one[] = {"1"}, *two[] = {"2"}, *three[] = {"3"};
    assert_true(add(&r, one, NULL));
    assert_true(add(&r, two, NULL));
    assert_false(add(&r, three, NULL));
    assert_int_equal(r.cut, SQLRESULT_ROWS);
    assert_false(add(&r, three, NULL));
    sqlresult_finish(&r);
    assert_string_equal(r.json.data,
                        "{\"columns\":[\"n\"],\"rows\":[[\"1\"],[\"2\"]],\"truncated\":true}");
    assert_int_equal(r.rows, 2);
    sqlresult_free(&r);
}

static void test_byte_cap(void **state)
{
    (void)state;
    MYSQL_FIELD f[] = {field("s", MYSQL_TYPE_VAR_STRING, 45)};
    struct sqlresult r;
    /* {"columns":["s"] is 16 bytes, ,"rows":[["abcd"] 17 more, ,["abcd"] 9 more. */
    sqlresult_init(&r, 0, 42);
    sqlresult_columns(&r, f, 1);
    char *row[] = {"abcd"};
    assert_true(add(&r, row, NULL));
    assert_true(add(&r, row, NULL));
    assert_int_equal(r.json.len, 42);
    assert_false(add(&r, row, NULL));
    assert_int_equal(r.cut, SQLRESULT_BYTES);
    sqlresult_finish(&r);
    assert_string_equal(r.json.data, "{\"columns\":[\"s\"],\"rows\":[[\"abcd\"],[\"abcd\"]],"
                                     "\"truncated\":true}");
    sqlresult_free(&r);

    /* A first row that alone passes the cap: no rows at all, still marked. */
    sqlresult_init(&r, 0, 20);
    sqlresult_columns(&r, f, 1);
    assert_false(add(&r, row, NULL));
    sqlresult_finish(&r);
    assert_string_equal(r.json.data, "{\"columns\":[\"s\"],\"truncated\":true}");
    sqlresult_free(&r);
}

static void test_is_query(void **state)
{
    (void)state;
    const char *queries[] = {"SELECT 1",         "select 1",      "  \n\tWith x as (select 1)",
                             "(SELECT 1)",       "((select 2))",  "SHOW TABLES",
                             "-- c\nSELECT 1",   "# c\nSELECT 1", "/* c */ SELECT 1",
                             "/*!50000 x*/show", "VALUES (1)",    "TABLE t",
                             "DESC t",           "describe t",    "EXPLAIN SELECT 1"};
    const char *statements[] = {"INSERT INTO t VALUES (1)",
                                "UPDATE t SET a = 1",
                                "CALL p()",
                                "CREATE TABLE t (a INT)",
                                "SELECTED",
                                "SET @a = 1",
                                "--SELECT 1",
                                "",
                                "   ",
                                "/* unterminated SELECT",
                                "(",
                                "DESCRIBED"};
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        if (!sqlstmt_is_query(queries[i], strlen(queries[i])))
            fail_msg("not a query: %s", queries[i]);
    }
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        if (sqlstmt_is_query(statements[i], strlen(statements[i])))
            fail_msg("a query: %s", statements[i]);
    }
    /* Only len bytes are read. */
    assert_false(sqlstmt_is_query("SELECT", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_text_not_hex),
        cmocka_unit_test(test_empty_and_affected),
        cmocka_unit_test(test_row_cap),
        cmocka_unit_test(test_byte_cap),
        cmocka_unit_test(test_is_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
