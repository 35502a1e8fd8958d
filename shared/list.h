/*
 * An intrusive, circular, doubly linked list (one node embedded in each element).
 * A list head is a node whose neighbours are itself when the list is empty. Removing a
 * node is O(1) and needs no knowledge of which list holds it, which is why every queue
 * of jobs, waiters and children in the daemon uses this instead of hand-written unlinks.
 */
#ifndef EXECD_LIST_H
#define EXECD_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *prev, *next;
};

/* A static list head (not LIST_INIT: <sys/queue.h>, which evhtp.h includes, has that). */
#define LIST_HEAD_INIT(name)                                                                       \
    {                                                                                              \
        &(name), &(name)                                                                           \
    }

static inline void list_init(struct list *l)
{
    l->prev = l->next = l;
}

static inline bool list_empty(const struct list *l)
{
    return l->next == l;
}

/* A node that was list_init'ed or list_del'ed is linked to nothing. */
static inline bool list_linked(const struct list *n)
{
    return n->next != n;
}

static inline void list_insert_between(struct list *n, struct list *prev, struct list *next)
{
    n->prev = prev;
    n->next = next;
    prev->next = n;
    next->prev = n;
}

static inline void list_add_tail(struct list *head, struct list *n)
{
    list_insert_between(n, head->prev, head);
}

static inline void list_add_head(struct list *head, struct list *n)
{
    list_insert_between(n, head, head->next);
}

/* Unlinks n and leaves it self-linked, so deleting twice is harmless. */
static inline void list_del(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/*
 * Moves every node of src, in order, to the tail of dst; src is left empty. For callers
 * that take a whole queue before working through it, so work queued meanwhile waits.
 */
static inline void list_splice_tail(struct list *dst, struct list *src)
{
    if (list_empty(src))
        return;
    struct list *first = src->next, *last = src->prev;
    first->prev = dst->prev;
    dst->prev->next = first;
    last->next = dst;
    dst->prev = last;
    list_init(src);
}

static inline size_t list_count(const struct list *head)
{
    size_t n = 0;
    for (const struct list *it = head->next; it != head; it = it->next)
        n++;
    return n;
}

#define list_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

#define list_first(head, type, member)                                                             \
    (list_empty(head) ? NULL : list_entry((head)->next, type, member))

/* Iterates with a lookahead, so the body may list_del (or free) the current element. */
#define list_each_safe(head, it, nx)                                                               \
    for (struct list *it = (head)->next, *nx = it->next; it != (head); it = nx, nx = it->next)

#endif
