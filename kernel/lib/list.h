/*
 * The one intrusive doubly-linked list of the kernel and its host builds (Linux's list_head
 * design): a node lives inside the object it links, a list is a sentinel node, so linking and
 * unlinking never allocate and removing a node needs nothing but the node. Arch-free.
 *
 * A list is circular through its sentinel: an empty list's sentinel points at itself. The
 * sentinel's address is part of the list, so a structure holding one must not be copied or moved
 * after list_init (re-initialise it instead).
 */
#ifndef PAGESCOPE_LIB_LIST_H
#define PAGESCOPE_LIB_LIST_H

#include "compiler.h"

struct list_node {
	struct list_node *prev, *next;
};

static inline void list_init(struct list_node *list)
{
	list->prev = list->next = list;
}

static inline bool list_is_empty(const struct list_node *list)
{
	return list->next == list;
}

/* Links `node` (not in any list) right after `pos` (the sentinel: at the front). */
static inline void list_insert_after(struct list_node *pos, struct list_node *node)
{
	node->prev = pos;
	node->next = pos->next;
	pos->next->prev = node;
	pos->next = node;
}

/* Links `node` right before `pos` (the sentinel: at the back). */
static inline void list_insert_before(struct list_node *pos, struct list_node *node)
{
	list_insert_after(pos->prev, node);
}

static inline void list_push_front(struct list_node *list, struct list_node *node)
{
	list_insert_after(list, node);
}

static inline void list_push_back(struct list_node *list, struct list_node *node)
{
	list_insert_before(list, node);
}

/* Unlinks `node`; it points at itself afterwards, so a second remove is harmless. */
static inline void list_remove(struct list_node *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	list_init(node);
}

/* Unlinks `node` and leaves its own pointers as they were: for a node relinked or dropped at
 * once (the hot paths of the page allocator), where list_remove's two stores buy nothing. */
static inline void list_unlink(struct list_node *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
}

/* The first / last node, or NULL when the list is empty. */
static inline struct list_node *list_first(const struct list_node *list)
{
	return list_is_empty(list) ? NULL : list->next;
}

static inline struct list_node *list_last(const struct list_node *list)
{
	return list_is_empty(list) ? NULL : list->prev;
}

/* The node after / before `node` in `list`, or NULL at the end. */
static inline struct list_node *list_next(const struct list_node *list, const struct list_node *node)
{
	return node->next == list ? NULL : node->next;
}

static inline struct list_node *list_prev(const struct list_node *list, const struct list_node *node)
{
	return node->prev == list ? NULL : node->prev;
}

/* The object holding `node` (NULL stays NULL); `node` is evaluated once. */
#define list_entry(node, type, member)                                                \
	({                                                                             \
		__typeof__(node) list_entry_node_ = (node);                           \
		list_entry_node_ ? container_of(list_entry_node_, type, member) : (type *)NULL; \
	})

/* Visits every node; the loop body may remove `pos` (the next node is read before the body). */
#define list_for_each_safe(pos, tmp, list) \
	for ((pos) = (list)->next, (tmp) = (pos)->next; (pos) != (list); (pos) = (tmp), (tmp) = (pos)->next)

#endif
