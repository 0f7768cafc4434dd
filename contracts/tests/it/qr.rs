//! File, armored text and multi-part QR forms.

use contracts::envelope::Person;
use contracts::transfer_format::{
    self, base45_decode, base45_encode, from_armor, qr_png, qr_svg, reassemble, to_armor,
    to_qr_parts, QrAssembler, MAX_QR_PART_CHARS,
};
use contracts::{Envelope, Error, SigningRequest};

use crate::common::*;

/// A request big enough to need several QR parts (many approvers with long names).
fn big_envelope(n: u8) -> Envelope {
    let mut request = erc20_request();
    request.approved_by = (0..40)
        .map(|i| Person {
            user_id: id(100 + i),
            username: format!("approver-with-a-rather-long-name-{i:03}"),
        })
        .collect();
    Envelope::seal(&request, &online(), id(n), NOW, TTL).unwrap()
}

/// A fixed permutation, so failures are reproducible without a random generator.
fn shuffled(parts: &[String]) -> Vec<String> {
    let mut out = parts.to_vec();
    let len = out.len();
    for i in 0..len {
        out.swap(i, (i * 7 + 3) % len);
    }
    out.reverse();
    out
}

#[test]
fn base45_matches_rfc_9285_vectors() {
    assert_eq!(base45_encode(b"AB"), "BB8");
    assert_eq!(base45_encode(b"Hello!!"), "%69 VD92EX0");
    assert_eq!(base45_encode(b"base-45"), "UJCLQE7W581");
    assert_eq!(base45_decode("QED8WEX0").unwrap(), b"ietf!");
    assert!(base45_decode("GGW").is_none()); // 65536 + … exceeds two bytes
    assert!(base45_decode("A").is_none());
    assert!(base45_decode("ab").is_none());
}

#[test]
fn qr_split_and_reassemble_in_shuffled_order() {
    let envelope = big_envelope(7);
    let parts = to_qr_parts(&envelope).unwrap();
    assert!(
        parts.len() >= 3,
        "expected several parts, got {}",
        parts.len()
    );
    for part in &parts {
        assert!(
            part.len() <= MAX_QR_PART_CHARS,
            "part of {} chars",
            part.len()
        );
        assert!(part.starts_with("CUSTODY1:SIGNING-REQUEST:"));
        // QR alphanumeric mode alphabet only.
        assert!(part
            .bytes()
            .all(|b| b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(&b)));
    }
    let back = reassemble(shuffled(&parts).iter().map(String::as_str)).unwrap();
    assert_eq!(back, envelope);
    back.verify::<SigningRequest>(&keyring(), NOW).unwrap();

    // Incrementally, with a repeated scan of an identical part.
    let mut assembler = QrAssembler::new();
    for part in shuffled(&parts).iter().chain(parts.first()) {
        assembler.add(part).unwrap();
    }
    assert!(assembler.progress().is_complete());
    assert_eq!(assembler.finish().unwrap(), envelope);

    // A small document is a single part.
    let small = Envelope::seal(&attestation(), &online(), id(8), NOW, TTL).unwrap();
    let one = to_qr_parts(&small).unwrap();
    assert_eq!(one.len(), 1);
    assert!(one[0].contains(":1/1:"));
    assert_eq!(reassemble(one.iter().map(String::as_str)).unwrap(), small);
}

#[test]
fn qr_reassembly_reports_missing_parts() {
    let parts = to_qr_parts(&big_envelope(7)).unwrap();
    let total = parts.len() as u32;
    let some: Vec<&str> = parts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, p)| p.as_str())
        .collect();
    match reassemble(some) {
        Err(Error::QrMissingParts { missing, total: t }) => {
            assert_eq!(missing, vec![2]);
            assert_eq!(t, total);
        }
        other => panic!("expected missing parts, got {other:?}"),
    }
    assert!(matches!(
        reassemble(std::iter::empty()),
        Err(Error::QrMissingParts { .. })
    ));
}

#[test]
fn qr_reassembly_rejects_mixed_documents() {
    let a = to_qr_parts(&big_envelope(7)).unwrap();
    let b = to_qr_parts(&big_envelope(8)).unwrap();
    let mut assembler = QrAssembler::new();
    assembler.add(&a[0]).unwrap();
    let err = assembler.add(&b[1]).unwrap_err();
    assert!(matches!(err, Error::QrMixedDocuments), "{err}");
    // The assembler is unchanged and can still finish document a.
    for part in &a[1..] {
        assembler.add(part).unwrap();
    }
    assembler.finish().unwrap();
}

#[test]
fn qr_reassembly_rejects_conflicting_duplicates() {
    let parts = to_qr_parts(&big_envelope(7)).unwrap();
    let mut assembler = QrAssembler::new();
    assembler.add(&parts[0]).unwrap();
    // Same header, same index, different (valid base45) data.
    let mut forged = parts[0].clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let err = assembler.add(&forged).unwrap_err();
    assert!(
        matches!(err, Error::QrConflictingDuplicate { part: 1 }),
        "{err}"
    );
}

#[test]
fn qr_reassembly_detects_corrupted_content() {
    let mut parts = to_qr_parts(&big_envelope(7)).unwrap();
    let mut forged = parts[1].clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    parts[1] = forged;
    let err = reassemble(parts.iter().map(String::as_str)).unwrap_err();
    assert!(matches!(err, Error::QrDigestMismatch), "{err}");
}

#[test]
fn qr_reassembly_rejects_unreadable_parts() {
    let parts = to_qr_parts(&big_envelope(7)).unwrap();
    let bad = [
        String::new(),
        "hello".to_owned(),
        parts[0].replacen("CUSTODY1", "CUSTODY2", 1),
        parts[0].replacen("SIGNING-REQUEST", "LAUNCH-CODES", 1),
        parts[0].replacen(":1/", ":0/", 1),
        parts[0].replacen(":1/", ":01/", 1),
        format!("{}a", parts[0]),
        "X".repeat(2000),
    ];
    for text in bad {
        let err = QrAssembler::new().add(&text).unwrap_err();
        assert!(matches!(err, Error::QrPart(_)), "{text:.40}: {err}");
    }
}

#[test]
fn armored_text_round_trip() {
    let envelope = big_envelope(7);
    let text = to_armor(&envelope).unwrap();
    assert!(text.starts_with("-----BEGIN CUSTODY SIGNING REQUEST-----\n"));
    assert!(text.ends_with("-----END CUSTODY SIGNING REQUEST-----\n"));
    assert!(text
        .lines()
        .all(|l| l.len() <= 64 || l.starts_with("-----")));
    assert_eq!(from_armor(&text).unwrap(), envelope);
    // Mail-style CRLF and indentation are tolerated.
    let mangled = text.replace('\n', "\r\n  ");
    assert_eq!(from_armor(&mangled).unwrap(), envelope);
    // Label and content must agree.
    let relabelled = text.replace("SIGNING REQUEST", "BALANCE ATTESTATION");
    assert!(matches!(from_armor(&relabelled), Err(Error::Armor(_))));
    let unterminated = text.replace("-----END CUSTODY SIGNING REQUEST-----", "");
    assert!(matches!(from_armor(&unterminated), Err(Error::Armor(_))));
    let bad_b64 = text.replacen("\n", "\n!!!!", 1);
    assert!(matches!(from_armor(&bad_b64), Err(Error::Armor(_))));
}

#[test]
fn decode_import_accepts_every_form() {
    let envelope = big_envelope(7);
    let bytes = envelope.to_bytes().unwrap();
    assert_eq!(transfer_format::decode_import(&bytes).unwrap(), envelope);
    let armor = to_armor(&envelope).unwrap();
    assert_eq!(
        transfer_format::decode_import(armor.as_bytes()).unwrap(),
        envelope
    );
    let qr = shuffled(&to_qr_parts(&envelope).unwrap()).join("\r\n");
    assert_eq!(
        transfer_format::decode_import(qr.as_bytes()).unwrap(),
        envelope
    );
    let verified = transfer_format::decode_and_verify(qr.as_bytes(), &keyring(), NOW).unwrap();
    assert_eq!(verified.kind(), contracts::Kind::SigningRequest);
}

#[test]
fn qr_codes_render_to_svg_and_png() {
    let parts = to_qr_parts(&big_envelope(7)).unwrap();
    let svg = qr_svg(&parts[0]).unwrap();
    assert!(svg.contains("<svg"));
    let png = qr_png(&parts[0], 4).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(matches!(qr_png(&parts[0], 0), Err(Error::Render(_))));
    assert!(matches!(qr_svg(&"A".repeat(5000)), Err(Error::Render(_))));
}
