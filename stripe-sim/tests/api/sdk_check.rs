//! Runs `sdk-check/check.py` (the official stripe-python SDK) against a live simulator.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::TestSim;

/// Generous: the script makes a few dozen requests, but a cold Python start can be slow.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn the_official_python_sdk_works_against_the_simulator() {
    let import = Command::new("python3")
        .args(["-c", "import stripe"])
        .output()
        .await
        .expect("python3 runs (it is needed for the official SDK check)");
    assert!(
        import.status.success(),
        "the official stripe SDK cannot be imported; install it with \
         `pip install -r stripe-sim/sdk-check/requirements.txt`:\n{}",
        String::from_utf8_lossy(&import.stderr)
    );

    let t = TestSim::spawn().await;
    let script = format!("{}/sdk-check/check.py", env!("CARGO_MANIFEST_DIR"));
    let run = Command::new("python3")
        .arg(&script)
        .arg(&t.sim.base_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, run)
        .await
        .expect("sdk-check finishes in time")
        .expect("sdk-check starts");
    assert!(
        output.status.success(),
        "sdk-check failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(t.state().requests_to("/v1/checkout/sessions") > 0);
}
