//! The simulator renders its objects from Stripe's fixtures, and `shared` parses the same
//! fixtures in its unit tests: two copies (each crate builds from its own directory), which must
//! stay one text, or the client would be tested against shapes the simulator does not send.

#[test]
fn the_simulators_fixtures_are_the_ones_the_client_is_tested_with() {
    let here = env!("CARGO_MANIFEST_DIR");
    for name in ["checkout_session.json", "line_item.json", "event.json"] {
        let ours = std::fs::read(format!("{here}/fixtures/{name}")).unwrap();
        let shared = std::fs::read(format!("{here}/../shared/fixtures/stripe/{name}")).unwrap();
        assert!(
            ours == shared,
            "stripe-sim/fixtures/{name} differs from shared/fixtures/stripe/{name}: copy one over \
             the other"
        );
    }
}
