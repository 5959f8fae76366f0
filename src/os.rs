//! The only `unsafe` in the crate: two libc calls that tune the process for password hashing.
//! Each is a plain system call with no memory effects on Rust data.
#![allow(unsafe_code)]

/// glibc keeps freed 19 MiB Argon2 blocks in its arenas once its adaptive mmap threshold has
/// grown past them, so resident memory only ever rises. A fixed threshold hands such blocks
/// back to the kernel on free. Called once, when the hashing pool starts.
pub fn return_large_blocks_to_the_kernel() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only adjusts allocator tuning; it is safe to call at any time.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
        });
    }
}

/// Lowers the calling thread's scheduling priority (a hashing thread yields to validation).
pub fn lower_this_threads_priority(niceness: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's id has no memory effects.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, niceness);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = niceness;
}
