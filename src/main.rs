// mimalloc keeps freed pages: training allocates many large short-lived tensors, and glibc's
// malloc returned them to the kernel each step (a fifth of training time went to page faults).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (15 in v2 and v3; `libmimalloc-sys` names only some options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Never hand freed pages back to the kernel: with mimalloc's default 10 ms delay a training
    // step re-faulted (and the kernel re-zeroed) its activations every step; measured on the
    // DVQ `cpu` preset (`geomotion bench dvq`, Zen 5), 85–107 crops/s with the default, 134 with never. The cost is
    // that the process keeps its peak memory until it exits.
    // SAFETY: sets a process-wide option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    match geomotion::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // As `main` returning the error would print it, but with the control characters of
        // quoted file contents escaped (`geomotion::cli::terminal`).
        Err(e) => {
            let text = format!("{e:?}");
            eprintln!("Error: {}", geomotion::cli::terminal::printable_text(&text));
            std::process::ExitCode::FAILURE
        }
    }
}
