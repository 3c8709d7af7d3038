use clap::Parser;
use validator_failover::cli::{self, Cli};

fn main() {
    if let Err(e) = color_eyre::install() {
        eprintln!("warning: could not install the error reporter: {e}");
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(cli::EXIT_FAILED);
        }
    };
    let code = runtime.block_on(cli::run(cli));
    std::process::exit(code);
}
