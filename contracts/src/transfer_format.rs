//! How an envelope physically crosses the air gap: as a file (the envelope bytes), as an
//! armored text block, or as a numbered series of QR codes — and back.
//!
//! QR part text: `CUSTODY1:<KIND>:<i>/<n>:<DIGEST>:<CHUNK>`, where `KIND` is
//! [`Kind::qr_tag`], `i` is 1-based, `DIGEST` is the first 8 bytes of SHA-256 over the whole
//! envelope (16 upper-case hex digits) and `CHUNK` is base45 (RFC 9285). Every character is
//! in the QR alphanumeric alphabet, so a part is encoded in alphanumeric mode, about a third
//! denser than byte mode. The digest (rather than an envelope-id prefix, whose leading bits are
//! a timestamp and would collide for envelopes made in the same minute) tells parts of
//! different documents apart and lets the reassembler detect a corrupted or altered part
//! before anything is parsed. Parts may be scanned in any order and re-scanned.
//!
//! None of these forms adds trust: whatever comes back must still pass
//! [`Envelope::verify`](crate::Envelope::verify).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::envelope::{Envelope, Kind, MAX_ENVELOPE_BYTES};
use crate::{Error, Result};

/// The magic and version of a QR part.
pub const QR_MAGIC: &str = "CUSTODY1";
/// Envelope bytes per QR part: 600 bytes are 900 base45 characters, so a part including its
/// header stays under 1000 characters (QR version ≈ 20 at error correction M, easy to scan
/// from a screen).
pub const QR_PART_BYTES: usize = 600;
/// Longest QR part text accepted.
pub const MAX_QR_PART_CHARS: usize = 1000;
/// Most parts a document may be split into (64 KiB / 600 B, rounded up generously).
pub const MAX_QR_PARTS: u32 = 128;
/// Characters per armored base64 line.
const ARMOR_LINE: usize = 64;

/// The armored text form:
///
/// ```text
/// -----BEGIN CUSTODY SIGNING REQUEST-----
/// <base64, 64 characters per line>
/// -----END CUSTODY SIGNING REQUEST-----
/// ```
pub fn to_armor(envelope: &Envelope) -> Result<String> {
    let label = envelope.kind().armor_label();
    let b64 = STANDARD.encode(envelope.to_bytes()?);
    let mut out = format!("-----BEGIN CUSTODY {label}-----\n");
    for line in b64.as_bytes().chunks(ARMOR_LINE) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END CUSTODY {label}-----\n"));
    Ok(out)
}

/// Parses the armored text form. Blank lines and surrounding whitespace are tolerated (mail
/// and editors add them); the label must name a known kind and match the envelope's kind.
pub fn from_armor(text: &str) -> Result<Envelope> {
    let limit = MAX_ENVELOPE_BYTES * 2;
    if text.len() > limit {
        return Err(Error::TooLarge {
            size: text.len(),
            max: limit,
        });
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let begin = lines
        .next()
        .ok_or_else(|| Error::Armor("the text is empty".into()))?;
    let label = begin
        .strip_prefix("-----BEGIN CUSTODY ")
        .and_then(|rest| rest.strip_suffix("-----"))
        .ok_or_else(|| Error::Armor("the first line is not -----BEGIN CUSTODY …-----".into()))?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.armor_label() == label)
        .ok_or_else(|| Error::Armor(format!("unknown document label {label:?}")))?;
    let end = format!("-----END CUSTODY {label}-----");
    let mut b64 = String::new();
    let mut ended = false;
    for line in lines.by_ref() {
        if line == end {
            ended = true;
            break;
        }
        b64.push_str(line);
    }
    if !ended {
        return Err(Error::Armor(format!("the closing line {end} is missing")));
    }
    if lines.next().is_some() {
        return Err(Error::Armor("there is text after the closing line".into()));
    }
    let bytes = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| Error::Armor("the body is not valid base64".into()))?;
    let envelope = Envelope::from_bytes(&bytes)?;
    if envelope.kind() != kind {
        return Err(Error::Armor(format!(
            "the label says {kind} but the document is a {}",
            envelope.kind()
        )));
    }
    Ok(envelope)
}

/// Splits an envelope into QR part texts (one part when it fits).
pub fn to_qr_parts(envelope: &Envelope) -> Result<Vec<String>> {
    let bytes = envelope.to_bytes()?;
    let digest = short_digest(&bytes);
    let chunks: Vec<&[u8]> = bytes.chunks(QR_PART_BYTES).collect();
    let total = u32::try_from(chunks.len())
        .ok()
        .filter(|n| (1..=MAX_QR_PARTS).contains(n))
        .ok_or_else(|| Error::Invalid("the document needs too many QR parts".into()))?;
    let tag = envelope.kind().qr_tag();
    Ok(chunks
        .iter()
        .zip(1u32..)
        .map(|(chunk, i)| {
            format!(
                "{QR_MAGIC}:{tag}:{i}/{total}:{digest}:{}",
                base45_encode(chunk)
            )
        })
        .collect())
}

/// Collects QR parts in any order and rebuilds the envelope.
#[derive(Debug, Default)]
pub struct QrAssembler {
    header: Option<(Kind, u32, String)>,
    parts: BTreeMap<u32, Vec<u8>>,
}

/// How far an [`QrAssembler`] has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QrProgress {
    /// Distinct parts received.
    pub received: u32,
    /// Parts announced.
    pub total: u32,
}

impl QrProgress {
    /// Whether every part is present.
    pub fn is_complete(&self) -> bool {
        self.received == self.total
    }
}

impl QrAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one scanned part. A repeated identical part is accepted (scanners repeat); a
    /// part of another document or a conflicting repeat is an error and leaves the assembler
    /// unchanged.
    pub fn add(&mut self, text: &str) -> Result<QrProgress> {
        let part = parse_part(text)?;
        let header = (part.kind, part.total, part.digest.clone());
        match &self.header {
            Some(existing) if *existing != header => return Err(Error::QrMixedDocuments),
            Some(_) => {}
            None => self.header = Some(header),
        }
        match self.parts.get(&part.index) {
            Some(existing) if *existing != part.data => {
                return Err(Error::QrConflictingDuplicate { part: part.index })
            }
            Some(_) => {}
            None => {
                self.parts.insert(part.index, part.data);
            }
        }
        Ok(self.progress())
    }

    /// Parts received so far and parts announced (0/0 before the first part).
    pub fn progress(&self) -> QrProgress {
        QrProgress {
            received: u32::try_from(self.parts.len()).unwrap_or(u32::MAX),
            total: self.header.as_ref().map_or(0, |h| h.1),
        }
    }

    /// Rebuilds and parses the envelope once every part is present.
    pub fn finish(&self) -> Result<Envelope> {
        let (kind, total, digest) = self.header.as_ref().ok_or(Error::QrMissingParts {
            missing: Vec::new(),
            total: 0,
        })?;
        let missing: Vec<u32> = (1..=*total)
            .filter(|i| !self.parts.contains_key(i))
            .collect();
        if !missing.is_empty() {
            return Err(Error::QrMissingParts {
                missing,
                total: *total,
            });
        }
        let bytes: Vec<u8> = self.parts.values().flatten().copied().collect();
        if short_digest(&bytes) != *digest {
            return Err(Error::QrDigestMismatch);
        }
        let envelope = Envelope::from_bytes(&bytes)?;
        if envelope.kind() != *kind {
            return Err(Error::QrPart(format!(
                "the parts say {kind} but the document is a {}",
                envelope.kind()
            )));
        }
        Ok(envelope)
    }
}

/// Reassembles an envelope from QR part texts given in any order.
pub fn reassemble<'a, I: IntoIterator<Item = &'a str>>(parts: I) -> Result<Envelope> {
    let mut assembler = QrAssembler::new();
    for part in parts {
        assembler.add(part)?;
    }
    assembler.finish()
}

/// Reads a document in any of the three forms: QR part texts (one per line), armored text,
/// or raw envelope bytes. For an import endpoint that accepts an upload or pasted text.
pub fn decode_import(input: &[u8]) -> Result<Envelope> {
    let limit = MAX_ENVELOPE_BYTES * 2;
    if input.len() > limit {
        return Err(Error::TooLarge {
            size: input.len(),
            max: limit,
        });
    }
    let text = std::str::from_utf8(input).ok();
    match text.map(str::trim_start) {
        Some(t) if t.starts_with("-----BEGIN CUSTODY ") => from_armor(t),
        Some(t) if t.starts_with(QR_MAGIC) => reassemble(
            // Only line breaks separate parts: a base45 chunk may end in a space.
            t.split('\n')
                .map(|l| l.trim_end_matches('\r'))
                .filter(|l| !l.is_empty()),
        ),
        _ => Envelope::from_bytes(input),
    }
}

/// Reads pasted or uploaded text in any import form: armored text, QR part texts (one per
/// line), or base64 of the envelope bytes (whitespace ignored). Size-checked first.
pub fn decode_import_text(input: &str) -> Result<Envelope> {
    let limit = MAX_ENVELOPE_BYTES * 2;
    if input.len() > limit {
        return Err(Error::TooLarge {
            size: input.len(),
            max: limit,
        });
    }
    let trimmed = input.trim();
    if trimmed.starts_with("-----BEGIN CUSTODY ") || trimmed.starts_with(QR_MAGIC) {
        return decode_import(trimmed.as_bytes());
    }
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = STANDARD.decode(compact.as_bytes()).map_err(|_| {
        Error::Malformed(
            "the input is neither an armored envelope, QR part texts, nor base64 of an envelope"
                .into(),
        )
    })?;
    decode_import(&bytes)
}

/// Reads a document in any form ([`decode_import`]) and verifies it ([`Envelope::verify_any`]):
/// the whole import check short of replay and account lookup, which need the database. This
/// is also what the `envelope_decode` fuzz target and its seed-corpus test exercise.
pub fn decode_and_verify(
    input: &[u8],
    keyring: &crate::KeyRing,
    now: u64,
) -> Result<crate::VerifiedBody> {
    decode_import(input)?.verify_any(keyring, now)
}

/// Renders one QR part as an SVG document (error correction M, quiet zone included).
pub fn qr_svg(part: &str) -> Result<String> {
    let code = qr_code(part)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(320, 320)
        .build())
}

/// Renders one QR part as a greyscale PNG, `scale` pixels per module (1..=32), with the
/// standard 4-module quiet zone.
pub fn qr_png(part: &str, scale: u32) -> Result<Vec<u8>> {
    if !(1..=32).contains(&scale) {
        return Err(Error::Render(
            "scale must be between 1 and 32 pixels per module".into(),
        ));
    }
    let code = qr_code(part)?;
    let quiet = 4usize;
    let modules = code.width();
    let colors = code.to_colors();
    let scale_px = scale as usize;
    let side_px = (modules + 2 * quiet) * scale_px;
    let mut pixels = vec![255u8; side_px * side_px];
    for (index, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (index % modules + quiet, index / modules + quiet);
        for py in my * scale_px..(my + 1) * scale_px {
            let row = py * side_px;
            for px in mx * scale_px..(mx + 1) * scale_px {
                if let Some(p) = pixels.get_mut(row + px) {
                    *p = 0;
                }
            }
        }
    }
    let side = u32::try_from(side_px).map_err(|_| Error::Render("image too large".into()))?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| Error::Render(format!("PNG header: {e}")))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| Error::Render(format!("PNG data: {e}")))?;
    writer
        .finish()
        .map_err(|e| Error::Render(format!("PNG end: {e}")))?;
    Ok(out)
}

fn qr_code(part: &str) -> Result<qrcode::QrCode> {
    if part.len() > MAX_QR_PART_CHARS {
        return Err(Error::Render(format!(
            "a QR part has at most {MAX_QR_PART_CHARS} characters"
        )));
    }
    qrcode::QrCode::with_error_correction_level(part.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Error::Render(e.to_string()))
}

struct Part {
    kind: Kind,
    index: u32,
    total: u32,
    digest: String,
    data: Vec<u8>,
}

fn parse_part(text: &str) -> Result<Part> {
    let bad = |why: &str| Error::QrPart(why.to_owned());
    if text.len() > MAX_QR_PART_CHARS {
        return Err(bad("the part is longer than 1000 characters"));
    }
    let mut fields = text.splitn(5, ':');
    if fields.next() != Some(QR_MAGIC) {
        return Err(bad(
            "it does not start with CUSTODY1: (not a custody QR code, or a newer format)",
        ));
    }
    let tag = fields.next().ok_or_else(|| bad("the kind is missing"))?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.qr_tag() == tag)
        .ok_or_else(|| bad("unknown document kind"))?;
    let numbering = fields
        .next()
        .ok_or_else(|| bad("the part number is missing"))?;
    let (index, total) = numbering
        .split_once('/')
        .ok_or_else(|| bad("the part number is not <i>/<n>"))?;
    let index = parse_count(index).ok_or_else(|| bad("the part number is not <i>/<n>"))?;
    let total = parse_count(total).ok_or_else(|| bad("the part number is not <i>/<n>"))?;
    if index == 0 || index > total || total > MAX_QR_PARTS {
        return Err(bad("the part number is out of range"));
    }
    let digest = fields.next().ok_or_else(|| bad("the digest is missing"))?;
    if digest.len() != 16
        || !digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
    {
        return Err(bad("the digest is not 16 upper-case hex digits"));
    }
    let chunk = fields.next().ok_or_else(|| bad("the data is missing"))?;
    let data = base45_decode(chunk).ok_or_else(|| bad("the data is not valid base45"))?;
    if data.is_empty() || data.len() > QR_PART_BYTES {
        return Err(bad("the data length is out of range"));
    }
    Ok(Part {
        kind,
        index,
        total,
        digest: digest.to_owned(),
        data,
    })
}

/// Decimal without sign or leading zeros, at most 3 digits.
fn parse_count(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 3 || text.starts_with('0') {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn short_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode_upper(digest.get(..8).unwrap_or_default())
}

const BASE45: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// RFC 9285 base45.
pub fn base45_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() / 2 * 3 + 2);
    let mut push = |v: usize| {
        if let Some(c) = BASE45.get(v % 45) {
            out.push(char::from(*c));
        }
    };
    for pair in bytes.chunks(2) {
        match *pair {
            [a, b] => {
                let n = usize::from(a) * 256 + usize::from(b);
                push(n);
                push(n / 45);
                push(n / 2025);
            }
            [a] => {
                let n = usize::from(a);
                push(n);
                push(n / 45);
            }
            _ => {}
        }
    }
    out
}

/// RFC 9285 base45; `None` on a character outside the alphabet, a dangling character or a
/// group above its maximum value.
pub fn base45_decode(text: &str) -> Option<Vec<u8>> {
    let values: Vec<usize> = text
        .bytes()
        .map(|c| BASE45.iter().position(|x| *x == c))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(values.len() / 3 * 2 + 1);
    for group in values.chunks(3) {
        match *group {
            [c, d, e] => {
                let n = c + d * 45 + e * 2025;
                let n = u16::try_from(n).ok()?;
                out.extend_from_slice(&n.to_be_bytes());
            }
            [c, d] => {
                let n = u8::try_from(c + d * 45).ok()?;
                out.push(n);
            }
            _ => return None,
        }
    }
    Some(out)
}
