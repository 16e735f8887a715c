//! Background threads of the studio (tokenizer, captioner, training, export encoding). They run
//! at a lower scheduling priority (nice 10 on Linux; threads they start, such as the matrix
//! kernels' worker pool, inherit it), so the render thread keeps its frame time while they work.

/// Spawns `f` on a named thread at low priority.
pub fn spawn<F>(name: &str, f: F)
where
    F: FnOnce() + Send + 'static,
{
    let r = std::thread::Builder::new()
        .name(format!("geomotion-{name}"))
        .spawn(move || {
            lower_priority();
            f()
        });
    if let Err(e) = r {
        bevy::log::error!("could not start the {name} thread: {e}");
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: setpriority on the calling thread (who = 0 is the caller's thread id on Linux);
    // it only changes this thread's nice value.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
