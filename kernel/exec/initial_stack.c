/* Building a program's initial stack (initial_stack.h). Bound: linear in the strings' bytes. */
#include "initial_stack.h"
#include "kernel/lib/string.h"

struct builder {
	uint8_t *buf;
	uint64_t capacity, top, used; /* used: bytes from the top taken so far */
	bool overflow;
};

/* Reserves `bytes` below what is used; returns the user address of the first, or 0. */
static uint64_t take(struct builder *b, uint64_t bytes)
{
	if (b->overflow || bytes > b->capacity - b->used) {
		b->overflow = true;
		return 0;
	}
	b->used += bytes;
	return b->top - b->used;
}

static uint8_t *at(struct builder *b, uint64_t addr)
{
	return b->buf + (b->capacity - (b->top - addr));
}

static uint64_t put_bytes(struct builder *b, const void *data, uint64_t bytes)
{
	uint64_t addr = take(b, bytes);
	if (addr)
		memcpy(at(b, addr), data, bytes);
	return addr;
}

static uint64_t put_string(struct builder *b, const char *s)
{
	return put_bytes(b, s, strlen(s) + 1);
}

static void put_word(struct builder *b, uint64_t *slot_addr, uint64_t value)
{
	uint64_t addr = take(b, 8);
	if (addr)
		memcpy(at(b, addr), &value, 8);
	*slot_addr = addr;
}

uint64_t initial_stack_build(const struct initial_stack_input *in, uint64_t stack_top, uint8_t *buf,
			     uint64_t capacity, uint64_t *used)
{
	struct builder b = { buf, capacity, stack_top, 0, false };
	/* Linux's order from the top: the path executed, the environment and argument strings (last
	 * first, so argv[0] ends up lowest), the platform string, the AT_RANDOM bytes. */
	uint64_t execfn = put_string(&b, in->execfn);
	uint64_t env_addr[256], arg_addr[256];
	if (in->argc > 256 || in->envc > 256)
		return 0;
	for (unsigned i = in->envc; i-- > 0;)
		env_addr[i] = put_string(&b, in->envp[i]);
	for (unsigned i = in->argc; i-- > 0;)
		arg_addr[i] = put_string(&b, in->argv[i]);
	uint64_t platform = put_string(&b, "x86_64");
	uint64_t random = put_bytes(&b, in->random16, 16);
	/* Everything below is 8-byte words: pad so that the final RSP (argc) is 16-byte aligned. */
	uint64_t words = 1 + in->argc + 1 + in->envc + 1 + 2 * (in->auxc + 4);
	uint64_t below = b.top - b.used;
	uint64_t rsp_unaligned = below - words * 8;
	take(&b, (rsp_unaligned - (rsp_unaligned & ~(uint64_t)15)));
	uint64_t slot;
	struct auxv_entry fixed[] = { { AT_RANDOM, random }, { AT_PLATFORM, platform },
				      { AT_EXECFN, execfn } };
	put_word(&b, &slot, 0); /* AT_NULL's value, then its type */
	put_word(&b, &slot, AT_NULL);
	for (unsigned i = ARRAY_SIZE(fixed); i-- > 0;) {
		put_word(&b, &slot, fixed[i].value);
		put_word(&b, &slot, fixed[i].type);
	}
	for (unsigned i = in->auxc; i-- > 0;) {
		put_word(&b, &slot, in->auxv[i].value);
		put_word(&b, &slot, in->auxv[i].type);
	}
	put_word(&b, &slot, 0);
	for (unsigned i = in->envc; i-- > 0;)
		put_word(&b, &slot, env_addr[i]);
	put_word(&b, &slot, 0);
	for (unsigned i = in->argc; i-- > 0;)
		put_word(&b, &slot, arg_addr[i]);
	put_word(&b, &slot, in->argc);
	if (b.overflow || (slot & 15) != 0)
		return 0;
	*used = b.used;
	return slot;
}
