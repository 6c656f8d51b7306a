//! Logging: `COFUND_LOG` sets the filter (default `info`), `COFUND_LOG_FORMAT=json` gives JSON
//! lines. Every request is logged with its request id by tracing-actix-web.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("COFUND_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("COFUND_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a reader at a terminal, never into a file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // try_init: tests start many servers in one process and only the first may install it.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
