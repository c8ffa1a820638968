//! A spying global allocator for tests: before each block is freed (or moved by
//! `realloc`) it checks whether the block still holds a secret pattern — the marker
//! bytes, or text encodings a test names (base64, base58, a session key). A secret type
//! that is wiped on drop frees zeros; one that is not frees the pattern, and the spy
//! reports it.
//!
//! This crate is test-only: reading a block just before handing it back to the system
//! allocator is the one way to observe that memory was cleared, not merely that
//! `Zeroize` is derived. (The only other `unsafe` in the workspace is the AVX-512 entry in
//! `backup-cipher/src/x25519/ifma.rs`; see SECURITY.md.)

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

/// 32 distinctive bytes used as the secret in tests.
pub const MARKER: [u8; 32] = [
    0xC3, 0x5A, 0x9E, 0x17, 0x42, 0xD8, 0x6B, 0xF1, 0x0E, 0xA7, 0x3C, 0x95, 0x58, 0xE2, 0x21, 0xBD,
    0x7F, 0x04, 0xCA, 0x66, 0x93, 0x1D, 0xB5, 0x48, 0xEE, 0x2A, 0x81, 0x5F, 0xD3, 0x39, 0x70, 0xAC,
];

static ARMED: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);
/// What counts as the secret while armed: the marker bytes, and any encodings of it a
/// test names (base64, base58, the session key text …). Set before arming, so the
/// allocator never allocates while it looks.
static PATTERNS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The allocator to install with `#[global_allocator]` in a test binary.
#[derive(Debug)]
pub struct Spy;

fn holds_secret(bytes: &[u8]) -> bool {
    // try_lock: the patterns are only replaced while disarmed, so this never waits.
    let Ok(patterns) = PATTERNS.try_lock() else {
        return false;
    };
    patterns
        .iter()
        .any(|p| !p.is_empty() && bytes.windows(p.len()).any(|w| w == p.as_slice()))
}

fn check(ptr: *mut u8, size: usize) {
    if ARMED.load(Ordering::Relaxed) && (16..=1 << 20).contains(&size) {
        // SAFETY: `ptr` is a live block of `size` bytes handed to `dealloc`/`realloc`.
        let block = unsafe { std::slice::from_raw_parts(ptr, size) };
        if holds_secret(block) {
            FOUND.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: delegates every operation to `System`; `dealloc` only reads the block it is
// given, which is valid for `layout.size()` bytes until it is passed on to `System`.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Spy {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        check(ptr, layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    /// A growing `String` or `Vec` frees its old block here, not through `dealloc`: so
    /// move by hand (allocate, copy, look at the old block, free it) to see that too.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            }
            check(ptr, layout.size());
            unsafe { System.dealloc(ptr, layout) };
        }
        new
    }
}

/// Runs `f` with the spy armed and returns how many freed blocks still held the marker.
pub fn freed_with_marker(f: impl FnOnce()) -> usize {
    freed_with(&[MARKER.to_vec()], f)
}

/// Runs `f` with the spy armed and returns how many freed (or reallocated) blocks still
/// held any of `secrets` (raw bytes, or a text encoding of them).
pub fn freed_with(secrets: &[Vec<u8>], f: impl FnOnce()) -> usize {
    *PATTERNS.lock().unwrap_or_else(PoisonError::into_inner) = secrets.to_vec();
    FOUND.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    FOUND.load(Ordering::SeqCst)
}
