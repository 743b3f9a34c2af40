//! Stripe's published vector (V1), our recomputed vectors (V2–V5), and the header edge cases.

use super::*;
use proptest::prelude::*;

const V1_PAYLOAD: &[u8] = include_bytes!("../../fixtures/stripe/event_test_signature.json");
const V1_SIG: &str = "2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7";
const V1_SIG_NO_NEWLINE: &str = "8c506d7d19ece69e9a38e398964787dda54eeb2583381ffc7f56070c28d7f119";
const V1_V0: &str = "63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";
const V2_PAYLOAD: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
const V2_SIG: &str = "4f1cd7feda9826e746b7d482c4badebb657398df1099e1046364f6196a230150";
const V3_SIG: &str = "dc80d0334b78e0dbbc3d5352c151a428b746163b94ad381096bb293b9e650f1e";
const V4_PAYLOAD: &[u8] = b"{\"id\":\"evt_1\",\"object\":\"event\"}";
const V4_SIG: &str = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";
const V5_PAYLOAD: &[u8] = include_bytes!("../../fixtures/stripe/event.json");
const V5_SIG: &str = "feab807e17811d3d80703222b061429cd59a88c14c5cdb80a6507512ea089758";

const SECRET: &str = "whsec_test_secret";
const ROLLED: &str = "whsec_test_secret_rolled_key";

fn secrets(list: &[&str]) -> WebhookSecrets {
    WebhookSecrets::from_strs(list)
}

fn check(payload: &[u8], header: &str, secret_list: &[&str], now: i64) -> Result<i64, VerifyError> {
    verify(
        payload,
        header,
        &secrets(secret_list),
        DEFAULT_TOLERANCE,
        now,
    )
}

#[test]
fn fixtures_are_byte_exact() {
    assert_eq!(V1_PAYLOAD.len(), 484);
    assert_eq!(V5_PAYLOAD.len(), 861);
}

#[test]
fn signing_reproduces_every_vector() {
    assert_eq!(sign(V1_PAYLOAD, "webhook_secret", 1533204620), V1_SIG);
    assert_eq!(
        sign(&V1_PAYLOAD[..483], "webhook_secret", 1533204620),
        V1_SIG_NO_NEWLINE
    );
    assert_eq!(sign(V2_PAYLOAD, SECRET, 1700000000), V2_SIG);
    assert_eq!(sign(V2_PAYLOAD, ROLLED, 1700000000), V3_SIG);
    assert_eq!(sign(V4_PAYLOAD, SECRET, 1700000000), V4_SIG);
    assert_eq!(sign(V5_PAYLOAD, SECRET, 1234567890), V5_SIG);
}

#[test]
fn stripes_published_header_verifies_and_its_v0_is_ignored() {
    let header = format!("t=1533204620,v1={V1_SIG},v0={V1_V0}");
    assert_eq!(
        check(V1_PAYLOAD, &header, &["webhook_secret"], 1533204620),
        Ok(1533204620)
    );
}

#[test]
fn v1_without_its_trailing_newline_does_not_verify() {
    let header = format!("t=1533204620,v1={V1_SIG}");
    assert_eq!(
        check(&V1_PAYLOAD[..483], &header, &["webhook_secret"], 1533204620),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn vectors_v2_to_v5_verify() {
    let at = |t: i64, sig: &str| format!("t={t},v1={sig}");
    assert!(check(V2_PAYLOAD, &at(1700000000, V2_SIG), &[SECRET], 1700000000).is_ok());
    assert!(check(V2_PAYLOAD, &at(1700000000, V3_SIG), &[ROLLED], 1700000000).is_ok());
    assert!(check(V4_PAYLOAD, &at(1700000000, V4_SIG), &[SECRET], 1700000000).is_ok());
    assert!(check(V5_PAYLOAD, &at(1234567890, V5_SIG), &[SECRET], 1234567890).is_ok());
}

#[test]
fn a_rotation_header_verifies_with_either_secret() {
    let header = format!("t=1700000000,v1={V3_SIG},v1={V2_SIG}");
    assert!(check(V2_PAYLOAD, &header, &[SECRET], 1700000000).is_ok());
    assert!(check(V2_PAYLOAD, &header, &[ROLLED], 1700000000).is_ok());
    assert!(check(V2_PAYLOAD, &header, &["whsec_other", ROLLED], 1700000000).is_ok());
    assert_eq!(
        check(V2_PAYLOAD, &header, &["whsec_other"], 1700000000),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn a_header_with_only_v0_is_rejected() {
    let header = format!("t=1533204620,v0={V1_V0}");
    assert_eq!(
        check(V1_PAYLOAD, &header, &["webhook_secret"], 1533204620),
        Err(VerifyError::NoV1Signature)
    );
}

#[test]
fn whitespace_around_items_is_tolerated_but_not_inside_a_signature() {
    let header = format!(" t=1700000000 , v1={V2_SIG} ");
    assert!(check(V2_PAYLOAD, &header, &[SECRET], 1700000000).is_ok());
    let broken = format!("t=1700000000,v1={} {}", &V2_SIG[..10], &V2_SIG[10..]);
    assert_eq!(
        check(V2_PAYLOAD, &broken, &[SECRET], 1700000000),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn header_shape_errors_are_told_apart() {
    assert_eq!(
        check(V2_PAYLOAD, "", &[SECRET], 0),
        Err(VerifyError::MissingHeader)
    );
    assert_eq!(
        check(V2_PAYLOAD, "garbage", &[SECRET], 0),
        Err(VerifyError::MalformedHeader)
    );
    assert_eq!(
        check(V2_PAYLOAD, &format!("v1={V2_SIG}"), &[SECRET], 1700000000),
        Err(VerifyError::MissingTimestamp)
    );
    assert_eq!(
        check(
            V2_PAYLOAD,
            &format!("t=abc,v1={V2_SIG}"),
            &[SECRET],
            1700000000
        ),
        Err(VerifyError::InvalidTimestamp)
    );
    assert_eq!(
        check(
            V2_PAYLOAD,
            &format!("t=-5,v1={V2_SIG}"),
            &[SECRET],
            1700000000
        ),
        Err(VerifyError::InvalidTimestamp)
    );
    assert_eq!(
        check(V2_PAYLOAD, "t=1700000000", &[SECRET], 1700000000),
        Err(VerifyError::NoV1Signature)
    );
    assert_eq!(
        check(V2_PAYLOAD, "t=1700000000,v1=nothex", &[SECRET], 1700000000),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn stale_and_future_timestamps_are_rejected_at_the_tolerance() {
    let header = format!("t=1700000000,v1={V2_SIG}");
    assert!(check(V2_PAYLOAD, &header, &[SECRET], 1700000300).is_ok());
    assert_eq!(
        check(V2_PAYLOAD, &header, &[SECRET], 1700000301),
        Err(VerifyError::TimestampTooOld)
    );
    assert!(check(V2_PAYLOAD, &header, &[SECRET], 1700000000 - 300).is_ok());
    assert_eq!(
        check(V2_PAYLOAD, &header, &[SECRET], 1700000000 - 301),
        Err(VerifyError::TimestampInFuture)
    );
}

#[test]
fn a_forged_signature_is_never_reported_as_stale() {
    let header = "t=1,v1=0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(
        check(V2_PAYLOAD, header, &[SECRET], 1700000000),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn a_signed_header_round_trips_with_one_v1_per_secret() {
    let header = signature_header(V4_PAYLOAD, &[SECRET, ROLLED], 1700000000);
    assert_eq!(header.matches("v1=").count(), 2);
    assert!(check(V4_PAYLOAD, &header, &[ROLLED], 1700000000).is_ok());
}

#[test]
fn secrets_are_redacted_in_debug() {
    let shown = format!("{:?}", secrets(&[SECRET]));
    assert!(!shown.contains("whsec"), "{shown}");
}

proptest! {
    #[test]
    fn any_single_byte_change_fails_verification(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        part in 0usize..3,
    ) {
        let t = 1700000000i64;
        let header = signature_header(&body, &[SECRET], t);
        prop_assert!(check(&body, &header, &[SECRET], t).is_ok());
        let mut body2 = body.clone();
        let mut header2 = header.clone().into_bytes();
        match part {
            0 => { let i = index.index(body2.len()); body2[i] ^= flip; }
            1 => {
                // A digit of the timestamp ("t=" is 2 bytes, the timestamp 10 digits).
                let i = 2 + index.index(10);
                header2[i] = if header2[i] == b'9' { b'0' } else { header2[i] + 1 };
            }
            _ => {
                // A hex digit of the signature (after "t=1700000000,v1=", 16 bytes).
                let i = 16 + index.index(64);
                header2[i] = if header2[i] == b'0' { b'1' } else { b'0' };
            }
        }
        let header2 = String::from_utf8(header2).unwrap();
        // A changed timestamp may also move outside the tolerance; either way it must fail.
        prop_assert!(check(&body2, &header2, &[SECRET], t).is_err());
    }
}
