"""The replay's checks of user-process events (analyzer/checking/process_replay.py), on synthetic program
runs (tests/python/process_streams.py): a consistent run passes; each check catches the mutation
made for it, and stops catching it when the check is removed (patched out), so no check is
dead; every check of ProcessChecks has such a mutation."""

import pytest

from analyzer.definitions.events import FORMAT
from analyzer.checking.process_replay import ProcessChecks
from analyzer.checking.replay import Replay, check_replay
from analyzer.definitions.syscalls import SYSCALL_NUMBERS
from process_streams import (HEAP, KERNEL_REGION, MMAP, PAGE, RO, STACK_TOP, USER_REGIONS,
                             ProgramRun, typical_run)

V = FORMAT.value_numbers
HEAP_BASE = USER_REGIONS[HEAP][0]
KERNEL_BASE = KERNEL_REGION[0]


def problems(run):
    return [str(p) for p in check_replay(run.events()).problems]


def find(run, name, nth=0, **match):
    """Index of the nth record named `name` whose fields equal `match`."""
    hits = [i for i, (n, values, _) in enumerate(run.records)
            if n == name and all(values[k] == v for k, v in match.items())]
    return hits[nth]


def fields(run, index):
    return run.records[index][1]


def outcome_index(run, outcome, nth=0):
    return find(run, "page_fault", nth, outcome=V[f"VMM_FAULT_{outcome}"])


def insert(run, index, name, text=None, **values):
    probe = ProgramRun.__new__(ProgramRun)
    probe.records = []
    ProgramRun.emit(probe, name, text=text, **values)
    run.records.insert(index, probe.records[0])


# ---- the mutations, one per check: (mutate(run), what the problem says) ------------------------

def bad_outcome_value(run):
    fields(run, outcome_index(run, "ZERO_FILL"))["outcome"] = 200


def fork_of_unknown_parent(run):
    fields(run, find(run, "process_start", how=V["PROCESS_START_FORK"]))["parent"] = 77


def call_of_unknown_pid(run):
    fields(run, find(run, "syscall", number=SYSCALL_NUMBERS["brk"]))["pid"] = 42


def kill_with_wrong_signal(run):
    fields(run, find(run, "process_exit", reason=V["PROCESS_EXIT_KILLED_FAULT"]))["status"] = 9


def refused_fault_then_plain_exit(run):
    exit_record = fields(run, find(run, "process_exit", reason=V["PROCESS_EXIT_KILLED_FAULT"]))
    exit_record.update(reason=V["PROCESS_EXIT_CALLED"], status=0)


def call_after_refused_fault(run):
    i = outcome_index(run, "REFUSED_FREE")
    pid, context = fields(run, i)["pid"], fields(run, i)["context"]
    insert(run, i + 1, "syscall", pid=pid, context=context, number=SYSCALL_NUMBERS["getpid"],
           result=pid)


def trace_ends_after_refused_fault(run):
    del run.records[outcome_index(run, "REFUSED_FREE") + 1:]


def exit_record_lost(run):
    del run.records[find(run, "process_exit", pid=1)]


def old_context_never_destroyed(run):
    exec_start = find(run, "process_start", how=V["PROCESS_START_EXEC"])
    del run.records[find(run, "context_destroy", context=2)]
    assert exec_start < find(run, "phase_end")


def call_outside_the_table_succeeds(run):
    fields(run, find(run, "syscall", number=9999))["result"] = 0


def result_below_minus_4095(run):
    fields(run, find(run, "syscall", number=SYSCALL_NUMBERS["brk"]))["result"] = (1 << 64) - 5000


def zero_fill_called_cow_reuse(run):
    fields(run, outcome_index(run, "ZERO_FILL"))["outcome"] = V["VMM_FAULT_COW_REUSE"]


def zero_fill_called_stack_grow(run):
    fields(run, outcome_index(run, "ZERO_FILL"))["outcome"] = V["VMM_FAULT_STACK_GROW"]


def cow_reuse_called_cow_copy(run):
    fields(run, outcome_index(run, "COW_REUSE"))["outcome"] = V["VMM_FAULT_COW_COPY"]


def refused_fault_without_memory_shortage(run):
    fields(run, outcome_index(run, "REFUSED_FREE"))["outcome"] = V["VMM_FAULT_OUT_OF_MEMORY"]
    fields(run, find(run, "process_exit", reason=V["PROCESS_EXIT_KILLED_FAULT"])).update(
        reason=V["PROCESS_EXIT_KILLED_OUT_OF_MEMORY"], status=9)


def zero_fill_mapped_read_only(run):
    i = outcome_index(run, "ZERO_FILL")
    fields(run, i - 1)["flags"] = RO
    assert run.records[i - 1][0] == "vmm_map"


def refusal_names_the_wrong_reason(run):
    fields(run, outcome_index(run, "REFUSED_FREE"))["outcome"] = V["VMM_FAULT_REFUSED_PROTECTION"]


def share_count_off_by_one(run):
    fields(run, find(run, "page_share", sharers=2))["sharers"] = 3


def fork_share_not_announced(run):
    del run.records[find(run, "page_share", sharers=2)]


def munmap_unmap_of_the_freed_frame(run):
    """munmap's page: pmm_free, then vmm_unmap (the kernel's order)."""
    i = find(run, "vmm_unmap", context=1)
    assert run.records[i - 1][0] == "pmm_free"
    return i


def munmap_frees_but_never_unmaps(run):
    del run.records[munmap_unmap_of_the_freed_frame(run)]


def munmap_never_frees(run):
    del run.records[munmap_unmap_of_the_freed_frame(run) - 1]


def freed_frame_mapped_again(run):
    freed = fields(run, munmap_unmap_of_the_freed_frame(run) - 1)["addr"]
    later = find(run, "vmm_map", context=4)  # the killed child's first mapping, after the munmap
    fields(run, later)["phys"] = freed


def exec_frees_a_frame_the_parent_still_maps(run):
    """A second release: the exec'd-away context's destruction page_shares a frame down to its
    parent's one mapping, then frees it too (the first page_share of context 2 down to 1 after
    its copy-on-write copy is its destruction's)."""
    start = outcome_index(run, "COW_COPY")
    i = next(i for i in range(start, len(run.records)) if run.records[i][0] == "page_share"
             and fields(run, i)["context"] == 2 and fields(run, i)["sharers"] == 1)
    insert(run, i + 1, "pmm_free", addr=fields(run, i)["phys"], pages=1, held=1,
           zone=V["PMM_ZONE_DMA"], owner=V["MM_OWNER_USER"])


def resident_off_by_one(run):
    fields(run, find(run, "process_resident", pid=1, nth=3))["resident_pages"] += 1


def resident_above_reserved(run):
    record = fields(run, find(run, "process_resident", pid=1, nth=3))
    record["resident_pages"] = record["reserved_pages"] + 1


MUTATIONS = {
    "check_named_values": [(bad_outcome_value, "outcome 200 is not a fault_outcome value")],
    "check_start": [(fork_of_unknown_parent, "the parent pid 77 is not running")],
    "check_process_known": [(call_of_unknown_pid, "pid 42 is not running")],
    "check_exit_status": [(kill_with_wrong_signal, "killed_fault with status 9, not signal 11")],
    "check_kill_reason": [(refused_fault_then_plain_exit, "ends as exit after its page_fault")],
    "check_no_event_after_kill": [(call_after_refused_fault, "goes on after its page_fault")],
    "check_kills_done": [(trace_ends_after_refused_fault, "never ends after its page_fault")],
    "check_context_not_in_use": [(exit_record_lost, "is destroyed while pid 1 runs in it")],
    "check_dying_destroyed": [(old_context_never_destroyed, "context 2 is never destroyed")],
    "check_syscall_number": [(call_outside_the_table_succeeds,
                              "number 9999 is no Linux x86-64 system call")],
    "check_syscall_result": [(result_below_minus_4095, "brk returns -5000")],
    "check_fault_outcome": [
        (zero_fill_called_cow_reuse, "cow_reuse at"),
        (zero_fill_called_stack_grow, "without a vmm_reserve over that page"),
        (cow_reuse_called_cow_copy, "without the vmm_unmap of the shared frame"),
        (refused_fault_without_memory_shortage, "without a refused allocation")],
    "check_fault_leaves_mapping": [(zero_fill_mapped_read_only, "mapped without write")],
    "check_refusal_reason": [(refusal_names_the_wrong_reason, "the replay has that address free")],
    "check_share_count": [(share_count_off_by_one, "has 3 sharers by this page_share, 2 mappings")],
    "check_sharing_announced": [(fork_share_not_announced, "without a page_share")],
    "check_free_unmapped": [(munmap_frees_but_never_unmaps, "which context 1 still maps"),
                            (exec_frees_a_frame_the_parent_still_maps,
                             "which context 1 still maps")],
    "check_frames_released": [(munmap_never_frees, "is never freed (its last mapping went")],
    "check_map_of_freed_frame": [(freed_frame_mapped_again, "freed and not allocated since")],
    "check_resident_counts": [(resident_off_by_one, "the replay of context 1 has"),
                              (resident_above_reserved, "resident pages exceed")],
}
CASES = [(check, mutate, phrase) for check, cases in MUTATIONS.items()
         for mutate, phrase in cases]
IDS = [f"{check}-{mutate.__name__}" for check, mutate, _ in CASES]


def test_a_typical_program_run_passes_with_every_process_event_checked():
    run = typical_run()
    report = check_replay(run.events())
    assert report.problems == []
    kinds = {name for name, _, _ in run.records}
    assert {"process_start", "process_exit", "page_fault", "syscall", "process_resident",
            "page_share"} <= kinds
    expected = sum(1 for name, _, _ in run.records
                   if name in ("process_start", "process_exit", "page_fault", "syscall"))
    assert report.process_events_checked == expected
    assert report.contexts_checked == report.contexts_created == 5


@pytest.mark.parametrize("check, mutate, phrase", CASES, ids=IDS)
def test_each_check_catches_its_mutation(check, mutate, phrase):
    run = typical_run()
    mutate(run)
    found = problems(run)
    assert any(phrase in p for p in found), found


@pytest.mark.parametrize("check, mutate, phrase", CASES, ids=IDS)
def test_without_the_check_its_mutation_goes_unseen(check, mutate, phrase, monkeypatch):
    monkeypatch.setattr(ProcessChecks, check, lambda self, *args, **kwargs: None)
    run = typical_run()
    mutate(run)
    assert not any(phrase in p for p in problems(run))


def test_every_check_has_a_mutation():
    checks = {name for name in dir(ProcessChecks) if name.startswith("check_")}
    assert checks == set(MUTATIONS)


def test_refused_fault_kills_and_is_reported_with_the_region_state():
    """The killed child's refusal lies in its mmap region, free since the munmap: refused_free
    is what the replay's bookkeeping says, and the kill names SIGSEGV."""
    run = typical_run()
    fault = fields(run, outcome_index(run, "REFUSED_FREE"))
    assert USER_REGIONS[MMAP][0] <= fault["addr"] < USER_REGIONS[MMAP][0] + USER_REGIONS[MMAP][1] * PAGE
    exit_record = fields(run, outcome_index(run, "REFUSED_FREE") + 1)
    assert exit_record["status"] == 11 and problems(run) == []


def test_brk_reserves_without_mapping_and_untouched_pages_stay_reserved():
    """Demand paging: brk and mmap reserve only; resident stays below reserved and no mapping
    waits for a reservation."""
    run = ProgramRun()
    run.spawn(1)
    run.brk(1, 64)
    run.mmap(1, 256)
    run.touch(1, HEAP_BASE + 5 * PAGE)
    run.exit(1)
    run.end()
    assert problems(run) == []
    residents = [values for name, values, _ in run.records if name == "process_resident"]
    last = residents[-1]
    assert last["resident_pages"] == 3 and last["reserved_pages"] == 4 + 8 + 64 + 256
    brk = find(run, "vmm_brk")
    assert run.records[brk + 1][0] == "vmm_reserve" and run.records[brk + 2][0] == "syscall"


def test_a_forked_childs_brk_resizes_the_heap_fork_reserved():
    """Fork reserves the child's heap with a plain vmm_reserve; the child's first brk names that
    reservation's size as old_pages, which the replay accepts (the heap is the reservation), and
    a brk naming another size is refused."""
    run = ProgramRun()
    run.spawn(1)
    run.brk(1, 4)
    run.fork(1, 2)
    run.brk(2, 9)
    run.exit(2)
    run.exit(1)
    run.end()
    assert problems(run) == []
    child_brk = [values for name, values, _ in run.records if name == "vmm_brk"][-1]
    assert child_brk["old_pages"] == 4
    child_brk["old_pages"] = 5
    assert any("is 4 pages, not 5" in p for p in problems(run))


def test_stack_growth_and_exec_keep_the_pid_and_destroy_the_old_context():
    run = ProgramRun()
    run.spawn(7)
    run.grow_stack(7, STACK_TOP - 9 * PAGE + 8)
    run.exec(7)
    run.exit(7, 1)
    run.end()
    assert problems(run) == []
    starts = [values for name, values, _ in run.records if name == "process_start"]
    assert [s["pid"] for s in starts] == [7, 7] and starts[0]["context"] != starts[1]["context"]


def test_exec_may_destroy_the_old_context_before_or_after_its_process_start():
    for destroy_first in (True, False):
        run = ProgramRun()
        run.spawn(7)
        run.touch(7, STACK_TOP - 8)
        run.exec(7, destroy_first=destroy_first)
        run.exit(7)
        run.end()
        assert problems(run) == [], destroy_first


def test_a_refused_fault_taken_for_a_call_fails_the_call_with_efault():
    """The kernel faults user memory in on a call's behalf (kernel/user/user_memory.c): a
    refusal there makes the call fail with -EFAULT and the process goes on."""
    run = ProgramRun()
    run.spawn(1)
    run.fault(1, USER_REGIONS[MMAP][0], "WRITE", "REFUSED_FREE")
    run.syscall(1, "read", (1 << 64) - 14, 0, USER_REGIONS[MMAP][0], 16)
    run.exit(1)
    run.end()
    assert problems(run) == []
    fields(run, find(run, "syscall", number=SYSCALL_NUMBERS["read"]))["result"] = 16
    assert any("goes on after its page_fault" in p for p in problems(run))


def test_a_freed_user_frame_given_to_another_owner_may_be_mapped_again():
    """The kernel reuses a frame a process freed, e.g. for a kernel stack (owner heap, mapped in
    the kernel context): not a use after free."""
    run = ProgramRun()
    run.spawn(1)
    run.touch(1, STACK_TOP - 8)
    run.exit(1)
    frame = fields(run, find(run, "pmm_free"))["addr"]
    run.free_phys.discard(frame)
    run.emit("pmm_alloc", addr=frame, pages=1, held=1, zone=V["PMM_ZONE_DMA"],
             owner=V["MM_OWNER_HEAP"])
    run.emit("vmm_reserve", addr=0xFFFF800000000000, pages=1, context=0, region=0)
    run.contexts[0]["reserved"][0xFFFF800000000000] = 1
    run.emit("vmm_map", virt=0xFFFF800000000000, phys=frame, context=0, flags=RO)
    run.end()
    assert problems(run) == []


def test_munmap_may_release_the_middle_of_a_processs_reservation():
    """The kernel splits a reservation at a munmap's ends without an event (vmm_ranges.c) and
    releases the piece: accepted in a process's context, and the rest stays reserved."""
    run = ProgramRun()
    run.spawn(1)
    addr = run.mmap(1, 8)
    context = run.pids[1]
    reserved = run.contexts[context]["reserved"]
    del reserved[addr]
    reserved.update({addr: 2, addr + 4 * PAGE: 4})
    run.emit("vmm_release", addr=addr + 2 * PAGE, pages=2, context=context, region=MMAP)
    run.syscall(1, "munmap", 0, addr + 2 * PAGE, 2 * PAGE)
    run.resident(1)
    run.exit(1)
    run.end()
    assert problems(run) == []
    assert fields(run, find(run, "process_resident", nth=2))["reserved_pages"] == 4 + 8 + 6


def test_a_kernel_context_still_releases_whole_reservations_only():
    run = ProgramRun()
    run.emit("vmm_reserve", addr=KERNEL_BASE, pages=8, context=0, region=0)
    run.emit("vmm_release", addr=KERNEL_BASE + 2 * PAGE, pages=2, context=0, region=0)
    assert any("no reservation starts at" in p for p in problems(run))


def test_a_forked_frame_is_left_to_the_sharing_rules():
    """ProcessChecks.shares(phys) tells the replay which frames may be mapped in two places: a
    process's frames (the child's mapping included, made before its process_start), not others."""
    run = ProgramRun()
    run.spawn(1)
    run.touch(1, STACK_TOP - 8)
    run.fork(1, 2)
    fork_share = find(run, "page_share")
    replay = Replay()
    for e in run.events()[:fork_share + 1]:
        replay.feed(e)
    assert replay.processes.shares(fields(run, fork_share)["phys"])
    assert not replay.processes.shares(0x7000)
