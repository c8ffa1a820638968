//! A spying global allocator for tests: before each block is freed it checks whether
//! the block still holds a marker pattern. A secret type that is wiped on drop frees
//! zeros; one that is not frees the marker, and the spy reports it.
//!
//! This is the only `unsafe` code in the workspace, and it is test-only: reading a
//! block just before handing it back to the system allocator is the one way to observe
//! that memory was cleared, not merely that `Zeroize` is derived.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

/// 32 distinctive bytes used as the secret in tests.
pub const MARKER: [u8; 32] = [
    0xC3, 0x5A, 0x9E, 0x17, 0x42, 0xD8, 0x6B, 0xF1, 0x0E, 0xA7, 0x3C, 0x95, 0x58, 0xE2, 0x21, 0xBD,
    0x7F, 0x04, 0xCA, 0x66, 0x93, 0x1D, 0xB5, 0x48, 0xEE, 0x2A, 0x81, 0x5F, 0xD3, 0x39, 0x70, 0xAC,
];

static ARMED: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);

/// The allocator to install with `#[global_allocator]` in a test binary.
#[derive(Debug)]
pub struct Spy;

fn holds_marker(bytes: &[u8]) -> bool {
    bytes.windows(MARKER.len()).any(|w| w == MARKER)
}

// SAFETY: delegates every operation to `System`; `dealloc` only reads the block it is
// given, which is valid for `layout.size()` bytes until it is passed on to `System`.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Spy {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Relaxed)
            && layout.size() >= MARKER.len()
            && layout.size() <= 1 << 20
        {
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if holds_marker(block) {
                FOUND.fetch_add(1, Ordering::Relaxed);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with the spy armed and returns how many freed blocks still held the marker.
pub fn freed_with_marker(f: impl FnOnce()) -> usize {
    FOUND.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    FOUND.load(Ordering::SeqCst)
}
