// mimalloc keeps freed pages: training allocates many large short-lived tensors, and glibc's
// malloc returned them to the kernel each step (a fifth of training time went to page faults).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    geomotion::cli::run()
}
