//! Reading the SE's user PIN: from the terminal without echo, or from an inherited file
//! descriptor for automation (`--pin-fd 3`, as `gpg --passphrase-fd` does), so a PIN never
//! appears on a command line, in the environment or in a log line.
//!
//! The PIN is held in zeroizing buffers from the moment it is read until it becomes an
//! [`se::Pin`], which wipes itself on drop and has no `Debug` of its value.

use std::io::{BufRead, BufReader, Read};

use zeroize::Zeroizing;

/// Longest line read from a PIN file descriptor. PINs are at most 64 characters; the limit
/// only stops a misdirected descriptor (a file, a pipe that never ends) from being read whole.
const MAX_PIN_LINE: u64 = 1024;

/// Why no PIN could be read. Never carries the PIN or any part of it.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The file descriptor could not be opened or read.
    #[error("cannot read the PIN from file descriptor {fd}: {source}")]
    Fd {
        /// The descriptor.
        fd: u32,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The descriptor was at end of file before any PIN.
    #[error("file descriptor {fd} gave no PIN (end of input)")]
    Empty {
        /// The descriptor.
        fd: u32,
    },
    /// The terminal prompt failed (no terminal, interrupted…).
    #[error("cannot ask for the PIN on the terminal: {0}")]
    Terminal(std::io::Error),
    /// The text read is not a valid PIN (length, control characters).
    #[error(transparent)]
    Invalid(#[from] se::ParseError),
}

/// Reads the SE user PIN: with `Some(fd)`, one line from `/dev/fd/<fd>` (without its line
/// ending); otherwise from the terminal with `prompt`, without echo.
pub fn read_pin(fd: Option<u32>, prompt: &str) -> Result<se::Pin, PinError> {
    let text = match fd {
        Some(fd) => read_line_from_fd(fd)?,
        None => Zeroizing::new(rpassword::prompt_password(prompt).map_err(PinError::Terminal)?),
    };
    let trimmed = text.trim_end_matches(['\n', '\r']);
    // `Pin::parse` wipes the copy it is given, whether or not it parses.
    Ok(se::Pin::parse(trimmed.to_owned())?)
}

/// Reads one PIN per prompt: with `Some(fd)`, one line each, in order, from `/dev/fd/<fd>`;
/// otherwise from the terminal, each with its prompt, without echo.
pub fn read_pins(fd: Option<u32>, prompts: &[&str]) -> Result<Vec<se::Pin>, PinError> {
    let mut out = Vec::with_capacity(prompts.len());
    match fd {
        Some(fd) => {
            let fail = |source| PinError::Fd { fd, source };
            let file = std::fs::File::open(format!("/dev/fd/{fd}")).map_err(fail)?;
            let limit = MAX_PIN_LINE.saturating_mul(prompts.len() as u64);
            let mut reader = BufReader::new(file.take(limit));
            for _ in prompts {
                let mut line = Zeroizing::new(String::new());
                if reader.read_line(&mut line).map_err(fail)? == 0 {
                    return Err(PinError::Empty { fd });
                }
                let trimmed = line.trim_end_matches(['\n', '\r']);
                out.push(se::Pin::parse(trimmed.to_owned())?);
            }
        }
        None => {
            for prompt in prompts {
                let text =
                    Zeroizing::new(rpassword::prompt_password(prompt).map_err(PinError::Terminal)?);
                let trimmed = text.trim_end_matches(['\n', '\r']);
                out.push(se::Pin::parse(trimmed.to_owned())?);
            }
        }
    }
    Ok(out)
}

/// One line from an inherited descriptor. Opening `/dev/fd/N` gives a new descriptor for the
/// same file (no `unsafe` `from_raw_fd` needed); only the first line is consumed.
fn read_line_from_fd(fd: u32) -> Result<Zeroizing<String>, PinError> {
    let fail = |source| PinError::Fd { fd, source };
    let file = std::fs::File::open(format!("/dev/fd/{fd}")).map_err(fail)?;
    let mut reader = BufReader::new(file.take(MAX_PIN_LINE));
    let mut line = Zeroizing::new(String::new());
    let n = reader.read_line(&mut line).map_err(fail)?;
    if n == 0 {
        return Err(PinError::Empty { fd });
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::Write;

    /// The descriptor number of an open file (it stays open while `file` lives).
    fn fd_of(file: &std::fs::File) -> u32 {
        use std::os::fd::AsRawFd;
        u32::try_from(file.as_raw_fd()).unwrap()
    }

    #[test]
    fn a_pin_is_read_from_a_descriptor_without_its_newline() {
        for content in [&b"271828\nsecond line\n"[..], b"271828\r\n", b"271828"] {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            file.write_all(content).unwrap();
            let opened = std::fs::File::open(file.path()).unwrap();
            let pin = read_pin(Some(fd_of(&opened)), "unused").unwrap();
            assert_eq!(format!("{pin:?}"), "Pin(***)");
        }
    }

    #[test]
    fn bad_descriptors_and_bad_pins_are_clear_errors_without_the_pin() {
        let empty = tempfile::NamedTempFile::new().unwrap();
        let opened = std::fs::File::open(empty.path()).unwrap();
        assert!(matches!(
            read_pin(Some(fd_of(&opened)), "unused"),
            Err(PinError::Empty { .. })
        ));
        assert!(matches!(
            read_pin(Some(987_654), "unused"),
            Err(PinError::Fd { fd: 987_654, .. })
        ));
        let short = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(short.path(), b"123\n").unwrap();
        let opened = std::fs::File::open(short.path()).unwrap();
        let err = read_pin(Some(fd_of(&opened)), "unused").unwrap_err();
        assert!(matches!(err, PinError::Invalid(_)));
        assert!(!err.to_string().contains("123"));
    }
}
