//! The test binary's allocator: the system allocator, plus, on a thread that runs a fuzz case,
//! the largest single request and the total requested. A request past [`REFUSE_ABOVE`] during
//! a case prints the case to stderr and is refused, so an absurd size shows which input asked
//! for it (Rust then aborts with "memory allocation failed") instead of thrashing the machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Requests larger than this during a fuzz case are refused: 8 GiB.
pub const REFUSE_ABOVE: usize = 8 << 30;

pub struct Tracking;

#[global_allocator]
static GLOBAL: Tracking = Tracking;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static TOTAL: Cell<usize> = const { Cell::new(0) };
    /// The running case's description (pointer, length), valid while `ACTIVE`.
    static CASE: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
}

/// Records a request of `size` bytes; `false` when it must be refused.
fn record(size: usize) -> bool {
    let active = ACTIVE.try_with(Cell::get).unwrap_or(false);
    if !active {
        return true;
    }
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    let _ = TOTAL.try_with(|t| t.set(t.get().saturating_add(size)));
    if size <= REFUSE_ABOVE {
        return true;
    }
    // No allocation here: write the case with the raw file descriptor.
    let (ptr, len) = CASE.try_with(Cell::get).unwrap_or((std::ptr::null(), 0));
    let msg = b"\nfuzz case asked for more than 8 GiB in one allocation: ";
    // SAFETY: `msg` is a live buffer; `ptr`/`len` describe the case's description, a `String`
    // that outlives the case (see `Tracked::start`).
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        if !ptr.is_null() {
            libc::write(2, ptr.cast(), len);
        }
        libc::write(2, b"\n".as_ptr().cast(), 1);
    }
    false
}

// SAFETY: every call is forwarded to `System` unchanged, or refused with a null pointer, which
// `GlobalAlloc` allows.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !record(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !record(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !record(new_size) {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// What one case allocated on its thread: the largest request and the sum of all (bytes).
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub largest: usize,
    pub total: usize,
}

/// Tracking of the current thread for one case; [`Tracked::finish`] stops it.
pub struct Tracked<'a> {
    _case: &'a str,
}

impl<'a> Tracked<'a> {
    /// Starts tracking this thread's allocations for the case described by `case`.
    pub fn start(case: &'a str) -> Self {
        LARGEST.with(|l| l.set(0));
        TOTAL.with(|t| t.set(0));
        CASE.with(|c| c.set((case.as_ptr(), case.len())));
        ACTIVE.with(|a| a.set(true));
        Self { _case: case }
    }

    pub fn finish(self) -> Usage {
        ACTIVE.with(|a| a.set(false));
        Usage {
            largest: LARGEST.with(Cell::get),
            total: TOTAL.with(Cell::get),
        }
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(false));
        CASE.with(|c| c.set((std::ptr::null(), 0)));
    }
}
