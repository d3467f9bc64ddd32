//! A global allocator for component instances that live for one request (Spin and `vantage up`
//! instantiate a component per request and discard its memory afterwards), so freeing memory
//! is work nobody benefits from.
//!
//! [`OneRequest`] hands out memory by bumping a pointer through chunks it takes from the
//! system allocator (so it never grows linear memory behind the libc allocator's back).
//! Freeing the most recent block gives it back (stack-like patterns and `Vec` growth stay
//! cheap, and `realloc` of the last block grows in place); other frees are no-ops. Once
//! [`OneRequest::new`]'s budget of chunk bytes is used, it hands every further request to the
//! system allocator, so a request that allocates a lot stays bounded by what it really holds.
//!
//! Not for long-lived processes: natively it is only used by its own tests. Components opt in
//! with `#[global_allocator]` under `cfg(target_arch = "wasm32")`. Single-threaded by design
//! (WASI 0.2 components have no threads); it is `Sync` only so it can be a `static`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// Size of a chunk taken from the system allocator (larger blocks get a chunk of their own).
const CHUNK: usize = 1 << 20;
/// Most chunks tracked (the budget is reached long before with the default sizes).
const MAX_CHUNKS: usize = 64;

struct State {
    /// Next free byte of the current chunk.
    top: usize,
    /// End of the current chunk.
    end: usize,
    /// Chunks taken: (start, end).
    chunks: [(usize, usize); MAX_CHUNKS],
    count: usize,
    /// Chunk bytes taken so far.
    taken: usize,
}

/// The allocator; see the crate documentation.
pub struct OneRequest {
    budget: usize,
    state: UnsafeCell<State>,
}

// SAFETY: components are single-threaded; natively the allocator is only exercised from one
// thread at a time in its tests.
#[allow(unsafe_code, reason = "a global allocator must be Sync to be a static")]
unsafe impl Sync for OneRequest {}

impl OneRequest {
    /// An allocator that bumps through at most `budget` bytes of chunks, then defers to the
    /// system allocator.
    pub const fn new(budget: usize) -> Self {
        OneRequest {
            budget,
            state: UnsafeCell::new(State {
                top: 0,
                end: 0,
                chunks: [(0, 0); MAX_CHUNKS],
                count: 0,
                taken: 0,
            }),
        }
    }

    #[allow(
        clippy::mut_from_ref,
        unsafe_code,
        reason = "single-threaded interior state; no reference outlives one allocator call"
    )]
    fn state(&self) -> &mut State {
        // SAFETY: single-threaded (see the `Sync` impl); no reference outlives one call.
        unsafe { &mut *self.state.get() }
    }

    /// Whether `ptr` lies in one of the chunks.
    fn owns(state: &State, ptr: usize) -> bool {
        state.chunks[..state.count]
            .iter()
            .any(|&(start, end)| ptr >= start && ptr < end)
    }
}

#[allow(
    unsafe_code,
    reason = "implementing GlobalAlloc is unsafe by definition"
)]
unsafe impl GlobalAlloc for OneRequest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let s = self.state();
        let align = layout.align();
        let size = layout.size();
        let start = (s.top + align - 1) & !(align - 1);
        if s.top != 0 && start.checked_add(size).is_some_and(|e| e <= s.end) {
            s.top = start + size;
            return start as *mut u8;
        }
        // A new chunk, unless the budget is spent or there is no room to track it.
        let want = size.saturating_add(align).max(CHUNK);
        if s.count == MAX_CHUNKS || s.taken.saturating_add(want) > self.budget {
            // SAFETY: forwarding the caller's valid layout.
            return unsafe { System.alloc(layout) };
        }
        let Ok(chunk_layout) = Layout::from_size_align(want, 16) else {
            // SAFETY: as above.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: a valid, non-zero layout.
        let chunk = unsafe { System.alloc(chunk_layout) } as usize;
        if chunk == 0 {
            return std::ptr::null_mut();
        }
        s.chunks[s.count] = (chunk, chunk + want);
        s.count += 1;
        s.taken += want;
        let start = (chunk + align - 1) & !(align - 1);
        s.top = start + size;
        s.end = chunk + want;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let s = self.state();
        let p = ptr as usize;
        if Self::owns(s, p) {
            // Only the most recent block comes back.
            if p + layout.size() == s.top {
                s.top = p;
            }
        } else {
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let s = self.state();
        let p = ptr as usize;
        if Self::owns(s, p) {
            // The most recent block grows or shrinks in place when its chunk has room.
            if p + layout.size() == s.top && p.checked_add(new_size).is_some_and(|e| e <= s.end) {
                s.top = p + new_size;
                return ptr;
            }
            if new_size <= layout.size() {
                return ptr;
            }
            // SAFETY: the new layout keeps the caller's alignment; `new_size` is non-zero.
            let fresh =
                unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
            if !fresh.is_null() {
                // SAFETY: both blocks are valid for `layout.size()` bytes and distinct.
                unsafe { std::ptr::copy_nonoverlapping(ptr, fresh, layout.size()) };
                // SAFETY: `ptr` is ours with this layout.
                unsafe { self.dealloc(ptr, layout) };
            }
            fresh
        } else {
            // SAFETY: `ptr` came from `System.alloc` with `layout`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code, reason = "the tests call the allocator directly")]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn bumps_aligns_and_gives_back_the_last_block() {
        let a = OneRequest::new(8 << 20);
        unsafe {
            let x = a.alloc(layout(3, 1));
            let y = a.alloc(layout(8, 8));
            assert_eq!(y as usize % 8, 0);
            assert!(y as usize >= x as usize + 3);
            y.write_bytes(7, 8);
            a.dealloc(y, layout(8, 8));
            let z = a.alloc(layout(8, 8));
            assert_eq!(z, y, "the last block is reused");
            // realloc of the last block grows in place and keeps the bytes.
            let w = a.realloc(z, layout(8, 8), 4096);
            assert_eq!(w, z);
            assert_eq!(*w.add(7), 7);
            // realloc of an older block moves and copies.
            x.write_bytes(1, 3);
            let moved = a.realloc(x, layout(3, 1), 100);
            assert_ne!(moved, x);
            assert_eq!(std::slice::from_raw_parts(moved, 3), &[1, 1, 1]);
        }
    }

    #[test]
    fn large_blocks_and_an_exhausted_budget_go_elsewhere() {
        let a = OneRequest::new(3 << 20);
        unsafe {
            // Larger than a chunk: a chunk of its own.
            let big = a.alloc(layout(2 << 20, 16));
            assert!(!big.is_null());
            big.write_bytes(1, 2 << 20);
            // The budget is now nearly spent: further chunks come from the system.
            let mut blocks = Vec::new();
            for _ in 0..64 {
                let b = a.alloc(layout(64 << 10, 8));
                assert!(!b.is_null());
                b.write_bytes(2, 64 << 10);
                blocks.push(b);
            }
            let s = a.state();
            assert!(s.taken <= 3 << 20, "taken {}", s.taken);
            // System blocks are freed for real (no crash, no leak report).
            for b in blocks.into_iter().rev() {
                a.dealloc(b, layout(64 << 10, 8));
            }
        }
    }
}
