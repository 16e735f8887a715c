fn main() -> anyhow::Result<()> {
    geomotion::cli::run()
}
