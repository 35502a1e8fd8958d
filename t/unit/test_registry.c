/*
 * The registry of long-lived ids (which worker owns them, also after the worker is
 * replaced) and code routing (warm kernels, fewest contexts, the default context created
 * exactly once), against a fake pool: supervisor_resolve and supervisor_slot_count are
 * defined here, so the supervisor itself is not linked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "pool/supervisor.h"
#include "relay/coderoute.h"
#include "relay/registry.h"

#define SLOTS 3

/* The fake pool: live worker processes, and each slot's current one. */
static struct worker procs[8];
static bool live[8];
static struct worker *current[SLOTS];

struct worker *supervisor_resolve(int slot, pid_t pid)
{
    for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
        if (live[i] && procs[i].pid == pid)
            return &procs[i];
    return slot >= 0 && slot < SLOTS ? current[slot] : NULL;
}

int supervisor_slot_count(void)
{
    return SLOTS;
}

/* Worker i (pid 100 + i) runs in slot, ready, and becomes the slot's current worker. */
static struct worker *start(int i, int slot)
{
    memset(&procs[i], 0, sizeof(procs[i]));
    procs[i].slot = slot;
    procs[i].pid = 100 + i;
    procs[i].state = WORKER_READY;
    live[i] = true;
    current[slot] = &procs[i];
    return &procs[i];
}

static void stop(int i)
{
    live[i] = false;
    if (current[procs[i].slot] == &procs[i])
        current[procs[i].slot] = NULL;
}

static int reset(void **state)
{
    (void)state;
    memset(procs, 0, sizeof(procs));
    memset(live, 0, sizeof(live));
    memset(current, 0, sizeof(current));
    registry_free();
    coderoute_free();
    return 0;
}

/* ---- the registry ----------------------------------------------------------------- */

static void test_put_lookup_del(void **state)
{
    (void)state;
    struct worker *w0 = start(0, 0), *w1 = start(1, 1);
    struct worker *owner = w0;
    assert_null(registry_lookup("nope", &owner));
    assert_null(owner);
    assert_null(registry_attr("nope"));

    registry_put("c1", "command", w0);
    registry_put_attr("x1", "context", "python", w1);
    registry_put_attr("x2", "context", NULL, w1);
    assert_int_equal(registry_count(), 3);
    assert_string_equal(registry_lookup("c1", &owner), "command");
    assert_ptr_equal(owner, w0);
    assert_string_equal(registry_lookup("x1", &owner), "context");
    assert_ptr_equal(owner, w1);
    assert_string_equal(registry_attr("x1"), "python");
    assert_null(registry_attr("x2"));
    assert_null(registry_attr("c1"));

    /* put again: the entry is replaced, not duplicated */
    registry_put_attr("c1", "context", "bash", w1);
    assert_int_equal(registry_count(), 3);
    assert_string_equal(registry_lookup("c1", &owner), "context");
    assert_ptr_equal(owner, w1);
    assert_string_equal(registry_attr("c1"), "bash");

    registry_del("c1");
    registry_del("never-there");
    assert_int_equal(registry_count(), 2);
    assert_null(registry_lookup("c1", &owner));
}

static void test_owner_follows_the_slot(void **state)
{
    (void)state;
    struct worker *w0 = start(0, 0);
    registry_put("c1", "command", w0);
    struct worker *owner;
    /* the worker died: no owner until the slot has a worker again */
    stop(0);
    assert_string_equal(registry_lookup("c1", &owner), "command");
    assert_null(owner);
    /* its successor adopts the slot's objects */
    struct worker *w2 = start(2, 0);
    registry_lookup("c1", &owner);
    assert_ptr_equal(owner, w2);
    /* a reload: the old worker still runs (draining) and keeps what it owns */
    live[0] = true;
    procs[0].state = WORKER_DRAINING;
    registry_lookup("c1", &owner);
    assert_ptr_equal(owner, w0);
}

struct seen {
    char ids[256];
};

static void each(const char *id, const char *attr, void *arg)
{
    struct seen *s = arg;
    strcat(s->ids, id);
    strcat(s->ids, attr != NULL ? attr : "-");
    strcat(s->ids, ";");
}

static void test_each_by_kind(void **state)
{
    (void)state;
    struct worker *w0 = start(0, 0);
    registry_put("c1", "command", w0);
    registry_put_attr("x1", "context", "python", w0);
    struct seen s = {""};
    registry_each("context", each, &s);
    assert_string_equal(s.ids, "x1python;");
    memset(&s, 0, sizeof(s));
    registry_each("command", each, &s);
    assert_string_equal(s.ids, "c1-;");
    memset(&s, 0, sizeof(s));
    registry_each("pty", each, &s);
    assert_string_equal(s.ids, "");
}

/* ---- code routing ------------------------------------------------------------------ */

static void test_pick_without_warm_kernels(void **state)
{
    (void)state;
    assert_null(coderoute_pick("python")); /* no worker at all */
    struct worker *w0 = start(0, 0), *w1 = start(1, 1), *w2 = start(2, 2);
    /* fewest contexts first */
    registry_put_attr("a", "context", "python", w0);
    registry_put_attr("b", "context", "python", w2);
    assert_ptr_equal(coderoute_pick("python"), w1);
    registry_put_attr("c", "context", "python", w1);
    /* a tie: the least loaded */
    w0->load = 3;
    w1->load = 1;
    w2->load = 2;
    assert_ptr_equal(coderoute_pick("python"), w1);
    /* only ready workers */
    w1->state = WORKER_STARTING;
    assert_ptr_equal(coderoute_pick("python"), w2);
    w0->state = w2->state = WORKER_DRAINING;
    assert_null(coderoute_pick("python"));
}

static void test_pick_warm_kernels(void **state)
{
    (void)state;
    struct worker *w0 = start(0, 0), *w1 = start(1, 1), *w2 = start(2, 2);
    coderoute_pool(w0, "python", 1);
    coderoute_pool(w1, "python", 2);
    /* the most warm kernels, counted as taken until the worker reports again */
    assert_ptr_equal(coderoute_pick("python"), w1);
    w1->load = 1;
    assert_ptr_equal(coderoute_pick("python"), w0); /* 1 each: the least loaded */
    assert_ptr_equal(coderoute_pick("python"), w1);
    /* none left: fewest contexts (none anywhere, all idle but w1: the first) */
    assert_ptr_equal(coderoute_pick("python"), w0);
    /* another language has its own reports */
    coderoute_pool(w1, "r", 1);
    assert_ptr_equal(coderoute_pick("r"), w1);

    /* a report of a previous worker of the slot says nothing about the new one */
    coderoute_pool(w0, "python", 5);
    stop(0);
    struct worker *w3 = start(3, 0);
    w3->load = 9;
    assert_ptr_equal(coderoute_pick("python"), w2); /* fewest contexts, least loaded */
    /* a report beyond the slots is ignored */
    struct worker ghost = {.slot = SLOTS + 1, .pid = 999, .state = WORKER_READY};
    coderoute_pool(&ghost, "python", 7);
}

static void test_default_created_once(void **state)
{
    (void)state;
    const char *id = "stale";
    assert_null(coderoute_default("python", &id)); /* no worker at all */
    assert_null(id);
    struct worker *w0 = start(0, 0), *w1 = start(1, 1);
    coderoute_pool(w1, "python", 1);
    /* no default yet: one worker is designated to create it, and stays so */
    struct worker *creator = coderoute_default("python", &id);
    assert_null(id);
    assert_ptr_equal(creator, w1);
    coderoute_pool(w0, "python", 3); /* even if another one looks better now */
    assert_ptr_equal(coderoute_default("python", &id), w1);
    w1->state = WORKER_STARTING;
    assert_ptr_equal(coderoute_default("python", &id), w1);

    /* the creator registers it: runs go to its owner, by id */
    registry_put_attr("dflt", "context", "python", w1);
    coderoute_registered("dflt", "python", true);
    assert_ptr_equal(coderoute_default("python", &id), w1);
    assert_string_equal(id, "dflt");
    /* a second default for the language is refused while the first lives */
    registry_put_attr("dflt2", "context", "python", w0);
    coderoute_registered("dflt2", "python", true);
    coderoute_default("python", &id);
    assert_string_equal(id, "dflt");
    /* an ordinary context changes nothing */
    coderoute_registered("other", "python", false);
    coderoute_default("python", &id);
    assert_string_equal(id, "dflt");
    /* while its owner restarts there is no worker for it, the id stays */
    stop(1);
    assert_null(coderoute_default("python", &id));
    assert_string_equal(id, "dflt");

    /* deleted: the next run designates a creator again, where a warm kernel is */
    registry_del("dflt");
    coderoute_unregistered("dflt");
    assert_ptr_equal(coderoute_default("python", &id), w0);
    assert_null(id);
}

static void test_default_gone_from_registry(void **state)
{
    (void)state;
    struct worker *w0 = start(0, 0);
    const char *id;
    registry_put_attr("d", "context", "python", w0);
    coderoute_registered("d", "python", true);
    assert_ptr_equal(coderoute_default("python", &id), w0);
    /* dropped from the registry without an unregister (its worker's slot was reset) */
    registry_del("d");
    assert_ptr_equal(coderoute_default("python", &id), w0);
    assert_null(id);
    /* a new default may then be registered */
    registry_put_attr("d2", "context", "python", w0);
    coderoute_registered("d2", "python", true);
    coderoute_default("python", &id);
    assert_string_equal(id, "d2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_lookup_del, reset, reset),
        cmocka_unit_test_setup_teardown(test_owner_follows_the_slot, reset, reset),
        cmocka_unit_test_setup_teardown(test_each_by_kind, reset, reset),
        cmocka_unit_test_setup_teardown(test_pick_without_warm_kernels, reset, reset),
        cmocka_unit_test_setup_teardown(test_pick_warm_kernels, reset, reset),
        cmocka_unit_test_setup_teardown(test_default_created_once, reset, reset),
        cmocka_unit_test_setup_teardown(test_default_gone_from_registry, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
