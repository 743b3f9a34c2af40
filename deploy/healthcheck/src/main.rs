//! `healthcheck PORT [PATH]`: exit 0 when `GET http://127.0.0.1:PORT/PATH` answers 2xx.

use std::process::ExitCode;

use healthcheck::Probe;

fn main() -> ExitCode {
    match Probe::from_args(std::env::args().skip(1)).and_then(|probe| probe.run()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}
