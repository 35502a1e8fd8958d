/* The intrusive list: order, O(1) removal from anywhere, deletion while iterating. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "list.h"

struct item {
    int v;
    struct list node;
};

static void test_order_and_removal(void **state)
{
    (void)state;
    struct list head = LIST_HEAD_INIT(head);
    struct item it[4] = {{0, {0}}, {1, {0}}, {2, {0}}, {3, {0}}};
    assert_true(list_empty(&head));
    assert_null(list_first(&head, struct item, node));
    list_add_tail(&head, &it[1].node);
    list_add_tail(&head, &it[2].node);
    list_add_head(&head, &it[0].node);
    list_add_tail(&head, &it[3].node);
    assert_int_equal(list_count(&head), 4);
    int expect = 0;
    list_each_safe(&head, n, nx) assert_int_equal(list_entry(n, struct item, node)->v, expect++);

    list_del(&it[2].node);
    assert_false(list_linked(&it[2].node));
    list_del(&it[2].node); /* twice is harmless */
    assert_int_equal(list_count(&head), 3);
    assert_int_equal(list_first(&head, struct item, node)->v, 0);

    /* Deleting every element while iterating. */
    list_each_safe(&head, n, nx) list_del(n);
    assert_true(list_empty(&head));
    assert_false(list_linked(&it[0].node));
}

static void test_splice(void **state)
{
    (void)state;
    struct list a = LIST_HEAD_INIT(a), b = LIST_HEAD_INIT(b);
    struct item it[4] = {{0, {0}}, {1, {0}}, {2, {0}}, {3, {0}}};
    list_splice_tail(&a, &b); /* both empty */
    assert_true(list_empty(&a));
    list_add_tail(&a, &it[0].node);
    list_add_tail(&b, &it[1].node);
    list_add_tail(&b, &it[2].node);
    list_splice_tail(&a, &b);
    assert_true(list_empty(&b));
    list_add_tail(&a, &it[3].node);
    assert_int_equal(list_count(&a), 4);
    int expect = 0;
    list_each_safe(&a, n, nx) assert_int_equal(list_entry(n, struct item, node)->v, expect++);
    list_splice_tail(&b, &a);
    assert_true(list_empty(&a));
    assert_int_equal(list_count(&b), 4);
    assert_int_equal(list_first(&b, struct item, node)->v, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_removal),
        cmocka_unit_test(test_splice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
