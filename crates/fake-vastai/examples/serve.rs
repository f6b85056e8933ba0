//! Runs the fake Vast.ai API with the fixture instances until stdin closes, for trying clients
//! (comfy-local, or the real vastai CLI with `--url`) by hand:
//!
//! ```text
//! cargo run -p comfy-local-fake-vastai --example serve -- [API_KEY [MAX_PAGE]]
//! ```
//!
//! Prints the base URL on the first line of stdout, then each request as it is seen on exit.

#![expect(
    clippy::print_stdout,
    reason = "the example prints the address it serves on"
)]

use std::io::Read;

fn main() -> std::io::Result<()> {
    let key = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fake-key".to_owned());
    let fake = comfy_local_fake_vastai::FakeVastAi::start(&key)?;
    if let Some(rows) = std::env::args().nth(2).and_then(|n| n.parse().ok()) {
        fake.set_max_page(rows);
    }
    println!("{}", fake.base_url());
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink)?;
    for request in fake.requests() {
        println!(
            "{} {} {:?} auth={}",
            request.method,
            request.path,
            request.query,
            request.authorization.is_some()
        );
    }
    Ok(())
}
