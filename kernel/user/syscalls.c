/*
 * The Linux x86-64 system calls pagescope implements for static programs (numbers and names from
 * trace/linux_syscalls.def), each traced as one `syscall` event after it ran. Every other call
 * returns -ENOSYS, is traced with its number and counted (program_counters.unsupported), so a user
 * sees at once what a new program would need.
 *
 * Deliberate differences from Linux, each stated where it is implemented:
 *   - the filesystem is read-only and flat (the boot module's cpio archive); cwd is "/";
 *   - no signals are delivered (sigaction and sigprocmask succeed and change nothing); a process
 *     that signals itself with kill/tkill/tgkill ends as if killed by that signal;
 *   - no threads: clone with CLONE_VM is -ENOSYS; vfork is a copy-on-write fork whose parent
 *     sleeps until the child execs or exits;
 *   - W^X: a mapping or mprotect asking for write and execute at once is -EACCES;
 *   - MAP_SHARED anonymous memory is populated at mmap (so a fork shares the very pages);
 *     file mappings are copies made at mmap (the filesystem has no page cache), made again for
 *     the pages madvise(MADV_DONTNEED) drops;
 *   - time is the TSC (guest instructions under icount): CLOCK_REALTIME starts at
 *     REALTIME_EPOCH when the machine boots;
 *   - nothing blocks but wait4 and vfork: an empty pipe reads -EAGAIN, poll returns at once with
 *     what is ready (process.h says why that suffices here); close-on-exec is not kept.
 */
#include "process.h"
#include "kernel/arch/amd64/serial.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/core/log.h"
#include "kernel/core/memory.h"
#include "kernel/trace/tracepoints.h"

enum {
#define SYSCALL(number, name) SYS_##name = number,
#include "trace/linux_syscalls.def"
#undef SYSCALL
};

#define REALTIME_EPOCH 1767225600ull /* 2026-01-01 00:00:00 UTC */
#define IO_CHUNK 4096
#define EXEC_STRINGS 64
#define EXEC_STRING_BYTES 4096

/* Flags and values of the Linux ABI the calls below read. */
#define LX_PROT_READ 1
#define LX_PROT_WRITE 2
#define LX_PROT_EXEC 4
#define LX_MAP_SHARED 1
#define LX_MAP_PRIVATE 2
#define LX_MAP_SHARED_VALIDATE 3
#define LX_MAP_FIXED 0x10
#define LX_MAP_ANONYMOUS 0x20
#define LX_MAP_POPULATE 0x8000
#define LX_MAP_FIXED_NOREPLACE 0x100000
#define LX_MREMAP_MAYMOVE 1
#define LX_MREMAP_FIXED 2
#define LX_MADV_DONTNEED 4
#define LX_O_ACCMODE 3
#define LX_O_CREAT 0x40
#define LX_O_TRUNC 0x200
#define LX_O_DIRECTORY 0x10000
#define LX_AT_FDCWD (-100)
#define LX_AT_EMPTY_PATH 0x1000
#define LX_ARCH_SET_FS 0x1002
#define LX_ARCH_GET_FS 0x1003
#define LX_CLONE_VM 0x100
#define LX_CLONE_VFORK 0x4000
#define LX_CLONE_SETTLS 0x80000
#define LX_CLONE_PARENT_SETTID 0x100000
#define LX_CLONE_CHILD_SETTID 0x1000000
#define LX_WNOHANG 1
#define LX_TIOCGWINSZ 0x5413
#define LX_S_IFREG 0100000
#define LX_S_IFCHR 0020000
#define LX_RLIMIT_STACK 3
#define LX_RLIMIT_NOFILE 7
#define LX_RLIM_INFINITY (~0ull)

struct lx_stat {
	uint64_t st_dev, st_ino, st_nlink;
	uint32_t st_mode, st_uid, st_gid, pad0;
	uint64_t st_rdev;
	int64_t st_size, st_blksize, st_blocks;
	uint64_t times[6];
	int64_t unused[3];
};
_Static_assert(sizeof(struct lx_stat) == 144, "struct stat of x86-64 Linux");

struct lx_iovec {
	uint64_t base, len;
};

/* --- helpers ---------------------------------------------------------------------------------- */

static struct vmm_context *ctx_of(struct process *p)
{
	return &p->image->ctx;
}

static struct open_file *file_of(struct process *p, int64_t fd)
{
	if (fd < 0 || fd >= PROCESS_FILES || p->files[fd].kind == FILE_CLOSED)
		return NULL;
	return &p->files[fd];
}

static int64_t status_errno(enum vm_status st)
{
	switch (st) {
	case VM_OK:
		return 0;
	case VM_ERR_NO_MEMORY:
	case VM_ERR_NO_SPACE:
	case VM_ERR_NOT_RESERVED:
		return -LX_ENOMEM;
	case VM_ERR_WRITE_EXECUTE:
		return -LX_EACCES;
	case VM_ERR_EXISTS:
		return -LX_EEXIST;
	default:
		return -LX_EINVAL;
	}
}

static uint64_t ticks_to_ns(uint64_t ticks)
{
	uint64_t hz = trace_global.clock_hz ? trace_global.clock_hz : 1000000000ull;
	/* Without 128-bit division (freestanding): whole seconds, then the rest. */
	return ticks / hz * 1000000000ull + ticks % hz * 1000000000ull / hz;
}

/* --- files ------------------------------------------------------------------------------------ */

static int64_t lookup_path(struct process *p, uint64_t user_path, struct cpio_entry *entry)
{
	char path[256];
	int64_t n = string_from_user(p, path, user_path, sizeof(path));
	if (n < 0)
		return n;
	if (n == 0)
		return -LX_ENOENT;
	return cpio_find(&program_world.archive, path, entry) ? 0 : -LX_ENOENT;
}

static int64_t sys_openat(struct process *p, int64_t dirfd, uint64_t user_path, uint64_t flags)
{
	(void)dirfd; /* every path is relative to "/", the only directory */
	struct cpio_entry entry;
	int64_t st = lookup_path(p, user_path, &entry);
	if ((flags & LX_O_ACCMODE) != 0 || (flags & (LX_O_CREAT | LX_O_TRUNC)))
		return st == 0 || (flags & LX_O_CREAT) ? -LX_EROFS : st;
	if (st < 0)
		return st;
	if (flags & LX_O_DIRECTORY)
		return -LX_ENOTDIR;
	for (int fd = 0; fd < PROCESS_FILES; fd++)
		if (p->files[fd].kind == FILE_CLOSED) {
			p->files[fd] = (struct open_file){ FILE_MODULE, entry, 0, NULL };
			return fd;
		}
	return -LX_EMFILE;
}

static int64_t pipe_transfer(struct process *p, struct open_file *f, uint64_t buf, uint64_t len,
			     bool write)
{
	uint8_t chunk[PIPE_BYTES];
	uint64_t n = MIN(len, sizeof(chunk));
	if (write) {
		int64_t st = copy_from_user(p, chunk, buf, n);
		return st < 0 ? st : pipe_write(f, chunk, n);
	}
	int64_t got = pipe_read(f, chunk, n);
	if (got <= 0)
		return got;
	int64_t st = copy_to_user(p, buf, chunk, (uint64_t)got);
	return st < 0 ? st : got;
}

static int64_t file_read(struct process *p, struct open_file *f, uint64_t buf, uint64_t len,
			 uint64_t *offset)
{
	if (f->kind == FILE_PIPE_READ)
		return pipe_transfer(p, f, buf, len, false);
	if (f->kind != FILE_STDIN && f->kind != FILE_MODULE)
		return -LX_EBADF;
	uint64_t size = f->entry.data ? f->entry.size : 0;
	if (*offset >= size)
		return 0;
	uint64_t n = MIN(len, size - *offset);
	int64_t st = copy_to_user(p, buf, f->entry.data + *offset, n);
	if (st < 0)
		return st;
	*offset += n;
	return (int64_t)n;
}

static int64_t file_write(struct process *p, struct open_file *f, uint64_t buf, uint64_t len)
{
	if (f->kind == FILE_PIPE_WRITE)
		return pipe_transfer(p, f, buf, len, true);
	if (f->kind != FILE_STDOUT && f->kind != FILE_STDERR)
		return -LX_EBADF;
	uint8_t chunk[IO_CHUNK];
	for (uint64_t done = 0; done < len;) {
		uint64_t n = MIN(len - done, IO_CHUNK);
		int64_t st = copy_from_user(p, chunk, buf + done, n);
		if (st < 0)
			return done ? (int64_t)done : st;
		serial_program_write(f->kind == FILE_STDOUT ? SERIAL_PROGRAM_STDOUT : SERIAL_PROGRAM_STDERR,
				     chunk, n);
		*(f->kind == FILE_STDOUT ? &program_counters.stdout_bytes : &program_counters.stderr_bytes) += n;
		done += n;
	}
	return (int64_t)len;
}

static int64_t sys_vector_io(struct process *p, int64_t fd, uint64_t iov, uint64_t count, bool write)
{
	struct open_file *f = file_of(p, fd);
	if (!f)
		return -LX_EBADF;
	if (count > 1024)
		return -LX_EINVAL;
	int64_t total = 0;
	for (uint64_t i = 0; i < count; i++) {
		struct lx_iovec v;
		int64_t st = copy_from_user(p, &v, iov + i * sizeof(v), sizeof(v));
		if (st < 0)
			return total ? total : st;
		st = write ? file_write(p, f, v.base, v.len) : file_read(p, f, v.base, v.len, &f->offset);
		if (st < 0)
			return total ? total : st;
		total += st;
		if ((uint64_t)st < v.len)
			break;
	}
	return total;
}

static void fill_stat(const struct open_file *f, const struct cpio_entry *entry, struct lx_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_nlink = 1;
	st->st_blksize = 4096;
	if (f && (f->kind == FILE_STDOUT || f->kind == FILE_STDERR || f->kind == FILE_STDIN) && !entry) {
		st->st_mode = LX_S_IFCHR | 0620;
		st->st_rdev = 0x8800; /* a pseudo-terminal's device number, as a console reports */
		st->st_ino = 1 + (uint64_t)f->kind;
		return;
	}
	st->st_mode = LX_S_IFREG | (entry->mode & 0555);
	st->st_size = (int64_t)entry->size;
	st->st_blocks = (int64_t)((entry->size + 511) / 512);
	st->st_ino = 16 + (uint64_t)(entry->data - program_world.archive.base);
}

static int64_t sys_fstat(struct process *p, int64_t fd, uint64_t buf)
{
	struct open_file *f = file_of(p, fd);
	if (!f)
		return -LX_EBADF;
	struct lx_stat st;
	fill_stat(f, f->kind == FILE_MODULE ? &f->entry : NULL, &st);
	return copy_to_user(p, buf, &st, sizeof(st));
}

static int64_t sys_stat_path(struct process *p, uint64_t path, uint64_t buf)
{
	struct cpio_entry entry;
	int64_t r = lookup_path(p, path, &entry);
	if (r < 0)
		return r;
	struct lx_stat st;
	fill_stat(NULL, &entry, &st);
	return copy_to_user(p, buf, &st, sizeof(st));
}

static int64_t sys_newfstatat(struct process *p, int64_t dirfd, uint64_t path, uint64_t buf, uint64_t flags)
{
	if (flags & LX_AT_EMPTY_PATH) {
		char first;
		if (copy_from_user(p, &first, path, 1) == 0 && first == 0)
			return sys_fstat(p, dirfd, buf);
	}
	return sys_stat_path(p, path, buf);
}

static int64_t sys_lseek(struct process *p, int64_t fd, int64_t offset, uint64_t whence)
{
	struct open_file *f = file_of(p, fd);
	if (!f)
		return -LX_EBADF;
	if (f->kind != FILE_MODULE && f->kind != FILE_STDIN)
		return -LX_ESPIPE;
	int64_t base = whence == 0 ? 0 : whence == 1 ? (int64_t)f->offset :
		       whence == 2 ? (int64_t)(f->entry.data ? f->entry.size : 0) : -1;
	if (base < 0 || base + offset < 0)
		return -LX_EINVAL;
	f->offset = (uint64_t)(base + offset);
	return (int64_t)f->offset;
}

static int64_t sys_dup(struct process *p, int64_t old, int64_t wanted, bool exact)
{
	struct open_file *f = file_of(p, old);
	if (!f)
		return -LX_EBADF;
	if (exact) {
		if (wanted < 0 || wanted >= PROCESS_FILES)
			return -LX_EBADF;
		file_duplicate(&p->files[wanted], f);
		return wanted;
	}
	for (int64_t fd = wanted < 0 ? 0 : wanted; fd < PROCESS_FILES; fd++)
		if (p->files[fd].kind == FILE_CLOSED) {
			file_duplicate(&p->files[fd], f);
			return fd;
		}
	return -LX_EMFILE;
}

static int64_t sys_pipe(struct process *p, uint64_t user_fds)
{
	int fds[2];
	int64_t st = pipe_create(p, fds);
	if (st < 0)
		return st;
	if (copy_to_user(p, user_fds, fds, sizeof(fds)) < 0) {
		file_close(&p->files[fds[0]]);
		file_close(&p->files[fds[1]]);
		return -LX_EFAULT;
	}
	return 0;
}

/* poll: what is ready now; it never waits (nothing it could wait for can change meanwhile). */
static int64_t sys_poll(struct process *p, uint64_t user_fds, uint64_t count)
{
	if (count > PROCESS_FILES * 4)
		return -LX_EINVAL;
	int64_t ready = 0;
	for (uint64_t i = 0; i < count; i++) {
		struct { int32_t fd; int16_t events, revents; } pfd;
		if (copy_from_user(p, &pfd, user_fds + i * 8, 8) < 0)
			return -LX_EFAULT;
		struct open_file *f = file_of(p, pfd.fd);
		unsigned now = f ? file_ready(f) : 32 /* POLLNVAL */;
		pfd.revents = (int16_t)(now & ((unsigned)(uint16_t)pfd.events | 16u | 32u));
		if (pfd.fd < 0)
			pfd.revents = 0;
		ready += pfd.revents != 0;
		if (copy_to_user(p, user_fds + i * 8, &pfd, 8) < 0)
			return -LX_EFAULT;
	}
	return ready;
}

static int64_t sys_sysinfo(struct process *p, uint64_t buf)
{
	struct pmm_stats stats;
	page_allocator_stats(&kernel_pmm, &stats);
	uint64_t info[14] = { 0 }; /* struct sysinfo of x86-64: 112 bytes */
	info[0] = ticks_to_ns(user_clock_ticks()) / 1000000000ull; /* uptime */
	info[4] = stats.total_pages * PAGE_SIZE;                    /* totalram */
	info[5] = stats.free_pages * PAGE_SIZE;                     /* freeram */
	info[10] = 1;                                                /* procs (u16 at byte 80) */
	info[13] = 1;                                                /* mem_unit (u32 at byte 104) */
	return copy_to_user(p, buf, info, sizeof(info));
}

static int64_t sys_prctl(struct process *p, uint64_t option, uint64_t arg)
{
	if (option == 15 /* PR_SET_NAME */)
		return 0;
	if (option != 16 /* PR_GET_NAME */)
		return -LX_EINVAL;
	char name[16] = { 0 };
	const char *base = p->path;
	for (const char *c = p->path; *c; c++)
		if (*c == '/')
			base = c + 1;
	memcpy(name, base, MIN(strlen(base), sizeof(name) - 1));
	return copy_to_user(p, arg, name, sizeof(name));
}

/* --- memory ----------------------------------------------------------------------------------- */

static unsigned access_of_prot(uint64_t prot, bool shared)
{
	unsigned access = 0;
	if (prot & (LX_PROT_READ | LX_PROT_WRITE | LX_PROT_EXEC)) /* x86: write or exec implies read */
		access = PT_READ | (prot & LX_PROT_WRITE ? PT_WRITE : 0) | (prot & LX_PROT_EXEC ? PT_EXECUTE : 0);
	return access | (shared ? VMM_ACCESS_SHARED : 0);
}

/* Maps every page of [addr, addr + pages) now (MAP_POPULATE, MAP_SHARED anonymous memory). */
static int64_t populate(struct process *p, uint64_t addr, uint64_t pages)
{
	struct vmm_context *ctx = ctx_of(p);
	for (uint64_t i = 0; i < pages; i++) {
		struct pt_translation t;
		if (pt_translate(&ctx->pt, addr + i * PAGE_SIZE, &t) == VM_OK)
			continue;
		struct vmm_query_result q;
		vmm_query(ctx, addr + i * PAGE_SIZE, &q);
		if (!(q.access & PT_READ))
			return 0; /* PROT_NONE: nothing to populate */
		enum vm_status st = vmm_map_anonymous(ctx, addr + i * PAGE_SIZE, 1, vmm_access_prot(q.access));
		if (st != VM_OK)
			return status_errno(st);
	}
	return 0;
}

/* Copies file bytes [offset, offset + len) into the mapping at addr (its pages mapped now). */
static int64_t fill_from_file(struct process *p, uint64_t addr, const struct cpio_entry *file,
			      uint64_t offset, uint64_t len)
{
	struct vmm_query_result q;
	vmm_query(ctx_of(p), addr, &q);
	if (offset >= file->size || !(q.access & PT_READ))
		return 0; /* past the file's end, or a PROT_NONE mapping: nothing to fill */
	return image_write(ctx_of(p), addr, file->data + offset, MIN(len, file->size - offset));
}

/* Forgets the file mappings any part of [addr, addr + len) touches (unmapped or mapped over). */
static void forget_file_maps(struct process *p, uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < PROCESS_FILE_MAPS; i++) {
		struct file_mapping *m = &p->file_maps[i];
		if (m->end > addr && m->start < addr + len)
			memset(m, 0, sizeof(*m));
	}
}

static int64_t remember_file_map(struct process *p, uint64_t addr, uint64_t len,
				 const struct cpio_entry *file, uint64_t offset)
{
	for (unsigned i = 0; i < PROCESS_FILE_MAPS; i++)
		if (p->file_maps[i].end == 0) {
			p->file_maps[i] = (struct file_mapping){ addr, addr + len, file->data, file->size, offset };
			return 0;
		}
	return -LX_ENOMEM; /* more private file mappings at once than this kernel keeps */
}

static int64_t fill_from_file(struct process *p, uint64_t addr, const struct cpio_entry *file,
			      uint64_t offset, uint64_t len);

/* After MADV_DONTNEED: the pages of [addr, end) that a private file mapping covers get the file's
 * bytes again, as Linux refaults them from the file. */
static int64_t refill_file_pages(struct process *p, uint64_t addr, uint64_t end)
{
	for (unsigned i = 0; i < PROCESS_FILE_MAPS; i++) {
		struct file_mapping *m = &p->file_maps[i];
		uint64_t lo = MAX(addr, m->start), hi = MIN(end, m->end);
		if (m->end == 0 || lo >= hi)
			continue;
		struct cpio_entry file = { .data = m->data, .size = m->size };
		int64_t st = fill_from_file(p, lo, &file, m->offset + (lo - m->start), hi - lo);
		if (st < 0)
			return st;
	}
	return 0;
}

static int64_t sys_mmap(struct process *p, uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags,
			int64_t fd, uint64_t offset)
{
	struct vmm_context *ctx = ctx_of(p);
	unsigned type = (unsigned)(flags & 0xF);
	bool anon = flags & LX_MAP_ANONYMOUS, shared = type == LX_MAP_SHARED || type == LX_MAP_SHARED_VALIDATE;
	bool fixed = flags & (LX_MAP_FIXED | LX_MAP_FIXED_NOREPLACE);
	if (len == 0 || len > USER_TOP || (offset & (PAGE_SIZE - 1)) || (fixed && (addr & (PAGE_SIZE - 1))) ||
	    (type != LX_MAP_PRIVATE && !shared))
		return -LX_EINVAL;
	if ((prot & LX_PROT_WRITE) && (prot & LX_PROT_EXEC))
		return -LX_EACCES; /* W^X */
	struct open_file *f = NULL;
	if (!anon) {
		f = file_of(p, fd);
		if (!f)
			return -LX_EBADF;
		if (f->kind != FILE_MODULE)
			return -LX_EACCES;
		if (shared && (prot & LX_PROT_WRITE))
			return -LX_EACCES; /* a read-only file */
	}
	uint64_t pages = ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE;
	unsigned access = access_of_prot(prot, shared && anon);
	enum vm_status st;
	if (fixed) {
		if (addr >= USER_TOP || pages > (USER_TOP - addr) / PAGE_SIZE)
			return -LX_ENOMEM;
		if (flags & LX_MAP_FIXED) {
			vmm_release_range(ctx, addr, pages);
			forget_file_maps(p, addr, pages * PAGE_SIZE);
		}
		st = vmm_reserve_at_access(ctx, addr, pages, access);
		if (st == VM_ERR_INVALID)
			st = VM_ERR_NO_SPACE; /* outside every region */
	} else {
		st = VM_ERR_EXISTS;
		if (addr && !(addr & (PAGE_SIZE - 1)) && addr < USER_TOP && pages <= (USER_TOP - addr) / PAGE_SIZE)
			st = vmm_reserve_at_access(ctx, addr, pages, access);
		if (st != VM_OK)
			st = vmm_reserve_access(ctx, VMM_UREGION_MMAP, pages, 1, access, &addr);
	}
	if (st != VM_OK)
		return status_errno(st);
	int64_t r = 0;
	if (f && !shared)
		r = remember_file_map(p, addr, pages * PAGE_SIZE, &f->entry, offset);
	if (f && r == 0)
		r = fill_from_file(p, addr, &f->entry, offset, len);
	else if (shared || (flags & LX_MAP_POPULATE))
		r = populate(p, addr, pages);
	if (r < 0) {
		vmm_release_range(ctx, addr, pages);
		forget_file_maps(p, addr, pages * PAGE_SIZE);
		return r;
	}
	process_note_memory(p);
	return (int64_t)addr;
}

static int64_t sys_munmap(struct process *p, uint64_t addr, uint64_t len)
{
	if ((addr & (PAGE_SIZE - 1)) || len == 0 || addr >= USER_TOP || len > USER_TOP - addr)
		return -LX_EINVAL;
	int64_t r = status_errno(vmm_release_range(ctx_of(p), addr, ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE));
	forget_file_maps(p, addr, ALIGN_UP(len, PAGE_SIZE));
	process_note_memory(p);
	return r;
}

static int64_t sys_mprotect(struct process *p, uint64_t addr, uint64_t len, uint64_t prot)
{
	if (addr & (PAGE_SIZE - 1))
		return -LX_EINVAL;
	if (len == 0)
		return 0;
	if (addr >= USER_TOP || len > USER_TOP - addr)
		return -LX_ENOMEM;
	if ((prot & LX_PROT_WRITE) && (prot & LX_PROT_EXEC))
		return -LX_EACCES;
	return status_errno(vmm_protect_range(ctx_of(p), addr, ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE,
					      access_of_prot(prot, false)));
}

static int64_t sys_brk(struct process *p, uint64_t wanted)
{
	uint64_t now;
	vmm_brk(ctx_of(p), wanted, &now); /* Linux: the break after the call, moved or not */
	process_note_memory(p);
	return (int64_t)now;
}

static int64_t sys_mremap(struct process *p, uint64_t old, uint64_t old_len, uint64_t new_len,
			  uint64_t flags)
{
	struct vmm_context *ctx = ctx_of(p);
	if ((old & (PAGE_SIZE - 1)) || new_len == 0 || (flags & LX_MREMAP_FIXED) || old >= USER_TOP)
		return -LX_EINVAL;
	uint64_t old_pages = ALIGN_UP(old_len, PAGE_SIZE) / PAGE_SIZE;
	uint64_t new_pages = ALIGN_UP(new_len, PAGE_SIZE) / PAGE_SIZE;
	struct vmm_query_result q;
	vmm_query(ctx, old, &q);
	if (q.state != VMM_PAGE_RESERVED && q.state != VMM_PAGE_MAPPED)
		return -LX_EFAULT;
	if (new_pages <= old_pages) {
		if (new_pages < old_pages)
			vmm_release_range(ctx, old + new_pages * PAGE_SIZE, old_pages - new_pages);
		process_note_memory(p);
		return (int64_t)old;
	}
	uint64_t end = old + old_pages * PAGE_SIZE, more = new_pages - old_pages;
	if (end < USER_TOP && vmm_reserve_at_access(ctx, end, more, q.access) == VM_OK) {
		process_note_memory(p);
		return (int64_t)old; /* grown in place */
	}
	if (!(flags & LX_MREMAP_MAYMOVE))
		return -LX_ENOMEM;
	uint64_t moved;
	enum vm_status st = vmm_reserve_access(ctx, VMM_UREGION_MMAP, new_pages, 1, q.access, &moved);
	if (st != VM_OK)
		return status_errno(st);
	/* Move what is mapped (a copy of each page; shared pages become private to the new range). */
	for (uint64_t i = 0; i < old_pages; i++) {
		struct pt_translation t;
		if (pt_translate(&ctx->pt, old + i * PAGE_SIZE, &t) != VM_OK)
			continue;
		if (image_write(ctx, moved + i * PAGE_SIZE, phys_to_virt(t.pa), PAGE_SIZE) < 0) {
			vmm_release_range(ctx, moved, new_pages);
			return -LX_ENOMEM;
		}
	}
	vmm_release_range(ctx, old, old_pages);
	forget_file_maps(p, old, old_pages * PAGE_SIZE);
	process_note_memory(p);
	return (int64_t)moved;
}

static int64_t sys_madvise(struct process *p, uint64_t addr, uint64_t len, uint64_t advice)
{
	if (addr & (PAGE_SIZE - 1))
		return -LX_EINVAL;
	if (advice != LX_MADV_DONTNEED || len == 0)
		return 0; /* advice only */
	uint64_t bytes = ALIGN_UP(len, PAGE_SIZE);
	enum vm_status st = vmm_unmap(ctx_of(p), addr, bytes / PAGE_SIZE);
	int64_t r = st == VM_OK ? refill_file_pages(p, addr, addr + bytes) : -LX_EINVAL;
	process_note_memory(p);
	return r;
}

/* --- processes -------------------------------------------------------------------------------- */

/* Reads a NULL-terminated array of strings (argv or envp) into `space`. Count, or -errno. */
static int64_t strings_from_user(struct process *p, uint64_t array, const char **out, char *space,
				 uint64_t *used)
{
	if (!array)
		return 0;
	for (unsigned i = 0;; i++) {
		uint64_t ptr;
		if (copy_from_user(p, &ptr, array + i * 8, 8) < 0)
			return -LX_EFAULT;
		if (!ptr)
			return i;
		if (i == EXEC_STRINGS)
			return -LX_E2BIG;
		int64_t n = string_from_user(p, space + *used, ptr, EXEC_STRING_BYTES - *used);
		if (n < 0)
			return n == -LX_ENAMETOOLONG ? -LX_E2BIG : n;
		out[i] = space + *used;
		*used += (uint64_t)n + 1;
	}
}

static int64_t sys_execve(struct process *p, struct exception_frame *frame, uint64_t path,
			  uint64_t argv, uint64_t envp)
{
	char *space = kmalloc(&kernel_heap, 2 * EXEC_STRING_BYTES + 256);
	if (!space)
		return -LX_ENOMEM;
	const char *args[EXEC_STRINGS], *envs[EXEC_STRINGS];
	uint64_t used_a = 0, used_e = 0;
	char *file = space + 2 * EXEC_STRING_BYTES;
	int64_t n = string_from_user(p, file, path, 256);
	int64_t argc = n < 0 ? n : strings_from_user(p, argv, args, space, &used_a);
	int64_t envc = argc < 0 ? argc : strings_from_user(p, envp, envs, space + EXEC_STRING_BYTES, &used_e);
	int64_t r = n < 0 ? n : argc < 0 ? argc : envc < 0 ? envc :
		    process_exec(p, frame, file, args, (unsigned)argc, envs, (unsigned)envc);
	kfree(&kernel_heap, space);
	return r;
}

static int64_t sys_clone(struct process *p, struct exception_frame *frame, uint64_t flags,
			 uint64_t stack, uint64_t parent_tid, uint64_t child_tid, uint64_t tls)
{
	if (flags & LX_CLONE_VM)
		return -LX_ENOSYS; /* threads (and posix_spawn's shared-memory vfork) are not supported */
	(void)stack;
	int64_t pid = process_fork(p, frame, (flags & LX_CLONE_VFORK) != 0, child_tid,
				   (flags & LX_CLONE_CHILD_SETTID) != 0);
	if (pid <= 0)
		return pid;
	struct process *c = process_by_pid((uint32_t)pid);
	if (c && (flags & LX_CLONE_SETTLS))
		c->fs_base = tls;
	if (flags & LX_CLONE_PARENT_SETTID) {
		uint32_t tid = (uint32_t)pid;
		copy_to_user(p, parent_tid, &tid, sizeof(tid));
	}
	return pid;
}

static int64_t sys_wait4(struct process *p, int64_t pid, uint64_t status_ptr, uint64_t options,
			 uint64_t rusage)
{
	uint32_t status = 0;
	int64_t r = process_wait(p, pid > 0 ? pid : -1, &status, (options & LX_WNOHANG) != 0);
	if (r > 0 && status_ptr && copy_to_user(p, status_ptr, &status, sizeof(status)) < 0)
		return -LX_EFAULT;
	if (r > 0 && rusage) {
		uint8_t zero[144] = { 0 };
		copy_to_user(p, rusage, zero, sizeof(zero));
	}
	return r;
}

/* --- the rest --------------------------------------------------------------------------------- */

static int64_t sys_uname(struct process *p, uint64_t buf)
{
	char u[6][65];
	memset(u, 0, sizeof(u));
	static const char *const fields[6] = { "Linux" /* the ABI the programs were built for */,
					       "pagescope", "6.1.0-pagescope", "#1 pagescope", "x86_64",
					       "(none)" };
	for (unsigned i = 0; i < 6; i++)
		memcpy(u[i], fields[i], strlen(fields[i]));
	return copy_to_user(p, buf, u, sizeof(u));
}

static int64_t sys_clock_gettime(struct process *p, uint64_t clock, uint64_t ts)
{
	uint64_t ns = ticks_to_ns(user_clock_ticks());
	uint64_t value[2] = { ns / 1000000000ull, ns % 1000000000ull };
	if (clock == 0 /* CLOCK_REALTIME */)
		value[0] += REALTIME_EPOCH;
	return copy_to_user(p, ts, value, sizeof(value));
}

static int64_t sys_prlimit(struct process *p, uint64_t resource, uint64_t old)
{
	if (!old)
		return 0;
	uint64_t limit[2] = { LX_RLIM_INFINITY, LX_RLIM_INFINITY };
	if (resource == LX_RLIMIT_STACK)
		limit[0] = 8 * MiB;
	if (resource == LX_RLIMIT_NOFILE)
		limit[0] = limit[1] = PROCESS_FILES;
	return copy_to_user(p, old, limit, sizeof(limit));
}

static int64_t sys_getrandom(struct process *p, uint64_t buf, uint64_t len)
{
	uint8_t chunk[256];
	for (uint64_t done = 0; done < len;) {
		uint64_t n = MIN(len - done, sizeof(chunk));
		program_random_bytes(chunk, n);
		int64_t st = copy_to_user(p, buf + done, chunk, n);
		if (st < 0)
			return done ? (int64_t)done : st;
		done += n;
	}
	return (int64_t)len;
}

static int64_t zero_out(struct process *p, uint64_t addr, uint64_t len)
{
	uint8_t zero[128] = { 0 };
	if (!addr)
		return 0;
	return copy_to_user(p, addr, zero, MIN(len, sizeof(zero)));
}

static int64_t sys_signal_self(struct process *p, uint64_t target, uint64_t signal)
{
	if (target != p->pid)
		return -LX_EPERM;
	if (signal == 0)
		return 0;
	kprintf("program: pid %u killed by signal %lu: it sent the signal to itself\n", p->pid, signal);
	process_exit(p, (uint32_t)(signal & 0x7F), PROCESS_EXIT_KILLED_SIGNAL);
}

/*
 * One call; `frame` may be rewritten (execve, fork's child). Arguments of C type int (fds, pids,
 * dirfd) are read as their low 32 bits, sign-extended: the ABI leaves the upper half undefined
 * (glibc passes -1 as 0x00000000ffffffff).
 */
static int64_t dispatch(struct process *p, struct exception_frame *f, uint64_t nr, const uint64_t *a)
{
	switch (nr) {
	case SYS_read: {
		struct open_file *file = file_of(p, (int32_t)a[0]);
		return file ? file_read(p, file, a[1], a[2], &file->offset) : -LX_EBADF;
	}
	case SYS_pread64: {
		struct open_file *file = file_of(p, (int32_t)a[0]);
		uint64_t offset = a[3];
		if (!file || file->kind != FILE_MODULE)
			return file ? -LX_ESPIPE : -LX_EBADF;
		return file_read(p, file, a[1], a[2], &offset);
	}
	case SYS_write: {
		struct open_file *file = file_of(p, (int32_t)a[0]);
		return file ? file_write(p, file, a[1], a[2]) : -LX_EBADF;
	}
	case SYS_readv:
		return sys_vector_io(p, (int32_t)a[0], a[1], a[2], false);
	case SYS_writev:
		return sys_vector_io(p, (int32_t)a[0], a[1], a[2], true);
	case SYS_open:
		return sys_openat(p, LX_AT_FDCWD, a[0], a[1]);
	case SYS_openat:
		return sys_openat(p, (int32_t)a[0], a[1], a[2]);
	case SYS_close:
		if (!file_of(p, (int32_t)a[0]))
			return -LX_EBADF;
		file_close(&p->files[(int32_t)a[0]]);
		return 0;
	case SYS_pipe:
	case SYS_pipe2:
		return sys_pipe(p, a[0]);
	case SYS_poll:
		return sys_poll(p, a[0], a[1]);
	case SYS_sysinfo:
		return sys_sysinfo(p, a[0]);
	case SYS_prctl:
		return sys_prctl(p, a[0], a[1]);
	case SYS_fadvise64:
		return file_of(p, (int32_t)a[0]) ? 0 : -LX_EBADF;
	case SYS_lseek:
		return sys_lseek(p, (int32_t)a[0], (int64_t)a[1], a[2]);
	case SYS_fstat:
		return sys_fstat(p, (int32_t)a[0], a[1]);
	case SYS_stat:
	case SYS_lstat:
		return sys_stat_path(p, a[0], a[1]);
	case SYS_newfstatat:
		return sys_newfstatat(p, (int32_t)a[0], a[1], a[2], a[3]);
	case SYS_access:
		return lookup_path(p, a[0], &(struct cpio_entry){ 0 }) < 0 ? -LX_ENOENT : (a[1] & 2) ? -LX_EROFS : 0;
	case SYS_faccessat:
	case SYS_faccessat2:
		return lookup_path(p, a[1], &(struct cpio_entry){ 0 }) < 0 ? -LX_ENOENT : (a[2] & 2) ? -LX_EROFS : 0;
	case SYS_getcwd:
		if (a[1] < 2)
			return -LX_ERANGE;
		return copy_to_user(p, a[0], "/", 2) < 0 ? -LX_EFAULT : 2;
	case SYS_readlink:
	case SYS_readlinkat:
		return -LX_ENOENT;
	case SYS_ioctl:
		return file_of(p, (int32_t)a[0]) ? -LX_ENOTTY : -LX_EBADF;
	case SYS_fcntl:
		if (!file_of(p, (int32_t)a[0]))
			return -LX_EBADF;
		if (a[1] == 0 || a[1] == 1030) /* F_DUPFD, F_DUPFD_CLOEXEC */
			return sys_dup(p, (int32_t)a[0], (int32_t)a[2], false);
		if (a[1] == 3) { /* F_GETFL */
			enum open_file_kind kind = p->files[(int32_t)a[0]].kind;
			return kind == FILE_STDOUT || kind == FILE_STDERR || kind == FILE_PIPE_WRITE ? 1 : 0;
		}
		return 0;
	case SYS_dup:
		return sys_dup(p, (int32_t)a[0], 0, false);
	case SYS_dup2:
	case SYS_dup3:
		return sys_dup(p, (int32_t)a[0], (int32_t)a[1], true);
	case SYS_brk:
		return sys_brk(p, a[0]);
	case SYS_mmap:
		return sys_mmap(p, a[0], a[1], a[2], a[3], (int32_t)a[4], a[5]);
	case SYS_munmap:
		return sys_munmap(p, a[0], a[1]);
	case SYS_mprotect:
		return sys_mprotect(p, a[0], a[1], a[2]);
	case SYS_mremap:
		return sys_mremap(p, a[0], a[1], a[2], a[3]);
	case SYS_madvise:
		return sys_madvise(p, a[0], a[1], a[2]);
	case SYS_exit:
	case SYS_exit_group:
		process_exit(p, (uint32_t)(a[0] & 0xFF) << 8, PROCESS_EXIT_CALLED);
	case SYS_fork:
		return process_fork(p, f, false, 0, false);
	case SYS_vfork:
		return process_fork(p, f, true, 0, false);
	case SYS_clone:
		return sys_clone(p, f, a[0], a[1], a[2], a[3], a[4]);
	case SYS_execve:
		return sys_execve(p, f, a[0], a[1], a[2]);
	case SYS_wait4:
		return sys_wait4(p, (int32_t)a[0], a[1], a[2], a[3]);
	case SYS_getpid:
	case SYS_gettid:
		return p->pid;
	case SYS_getppid:
		return p->parent;
	case SYS_getuid:
	case SYS_geteuid:
	case SYS_getgid:
	case SYS_getegid:
		return 0;
	case SYS_set_tid_address: /* no threads: nothing waits on the address at exit */
		return p->pid;
	case SYS_arch_prctl:
		if (a[0] == LX_ARCH_SET_FS) {
			if (a[1] >= USER_TOP)
				return -LX_EPERM;
			p->fs_base = a[1];
			user_set_fs_base(a[1]);
			return 0;
		}
		if (a[0] == LX_ARCH_GET_FS)
			return copy_to_user(p, a[1], &p->fs_base, 8);
		return -LX_EINVAL;
	case SYS_clock_gettime:
		return sys_clock_gettime(p, a[0], a[1]);
	case SYS_gettimeofday: {
		uint64_t ns = ticks_to_ns(user_clock_ticks());
		uint64_t tv[2] = { REALTIME_EPOCH + ns / 1000000000ull, (ns % 1000000000ull) / 1000 };
		return a[0] ? copy_to_user(p, a[0], tv, sizeof(tv)) : 0;
	}
	case SYS_time: {
		uint64_t t = REALTIME_EPOCH + ticks_to_ns(user_clock_ticks()) / 1000000000ull;
		if (a[0] && copy_to_user(p, a[0], &t, 8) < 0)
			return -LX_EFAULT;
		return (int64_t)t;
	}
	case SYS_uname:
		return sys_uname(p, a[0]);
	case SYS_getrandom:
		return sys_getrandom(p, a[0], a[1]);
	case SYS_rt_sigaction:
		return zero_out(p, a[2], a[3] ? 32 : 0); /* the old action: SIG_DFL */
	case SYS_rt_sigprocmask:
		return zero_out(p, a[2], a[3]);
	case SYS_sigaltstack:
		return zero_out(p, a[1], 24);
	case SYS_set_robust_list:
	case SYS_sched_yield:
	case SYS_nanosleep:
	case SYS_clock_nanosleep:
		return 0;
	case SYS_prlimit64:
		return sys_prlimit(p, a[1], a[3]);
	case SYS_getrlimit:
		return sys_prlimit(p, a[0], a[1]);
	case SYS_kill:
	case SYS_tkill:
		return sys_signal_self(p, (uint64_t)(int64_t)(int32_t)a[0], a[1]);
	case SYS_tgkill:
		return sys_signal_self(p, (uint64_t)(int64_t)(int32_t)a[1], a[2]);
	default:
		if (nr < ARRAY_SIZE(program_counters.unsupported))
			program_counters.unsupported[nr]++;
		return -LX_ENOSYS;
	}
}

void syscall_dispatch(struct exception_frame *f)
{
	struct process *p = current;
	uint64_t start = user_clock_ticks();
	uint64_t nr = f->rax;
	uint64_t a[6] = { f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9 };
	uint16_t context = p->image->ctx.pt.trace_context;
	if (nr < ARRAY_SIZE(program_counters.syscalls))
		program_counters.syscalls[nr]++;
	if (nr == SYS_exit || nr == SYS_exit_group)
		trace_syscall(a[0], a[1], a[2], a[3], a[4], a[5], 0, p->pid,
			      (uint32_t)(user_clock_ticks() - start), (uint16_t)nr, context);
	int64_t result = dispatch(p, f, nr, a);
	if (!(nr == SYS_execve && result == 0))
		f->rax = (uint64_t)result;
	trace_syscall(a[0], a[1], a[2], a[3], a[4], a[5], (uint64_t)result, p->pid,
		      (uint32_t)(user_clock_ticks() - start), (uint16_t)nr, context);
	user_frame_sanitize(f);
}
