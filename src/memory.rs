//! How the process uses glibc's allocator. A multi-threaded tokio process gets a malloc arena per
//! thread that allocates (runtime workers and the blocking pool's store and file threads), and
//! memory freed in one arena is not reused by another: a large organisation's cycle then peaks at
//! about half again its live heap. Two arenas keep the peak near the live heap at a small cost in
//! lock contention (measured in the Google benchmark: 298 → 208 MB; one arena costs 50 % CPU).
//! Elsewhere (musl, other systems) these do nothing.

/// The most arenas the allocator may make.
const ARENAS: i32 = 2;

/// Limit the allocator's arenas. Call first thing in `main`, before any thread starts; an
/// explicit `MALLOC_ARENA_MAX` in the environment wins.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator tunable; called before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

/// Give memory freed by large temporaries back to the system (glibc keeps it).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
