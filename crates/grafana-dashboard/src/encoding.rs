//! The `content` encoding: the xz container (LZMA2, preset 6, CRC64: Python's
//! `lzma.compress` defaults) in standard base64 with padding, as cosl's `LZMABase64`.

use std::io::{Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lzma_rust2::{XzOptions, XzReader, XzWriter};

/// Why a `content` value does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not standard base64: {0}")]
    Base64(String),
    #[error("not an xz stream: {0}")]
    Xz(String),
    #[error("the decompressed content is not UTF-8")]
    Utf8,
}

/// `text` xz-compressed and base64-encoded.
pub fn compress(text: &str) -> String {
    let mut writer = XzWriter::new(Vec::new(), XzOptions::with_preset(6)).expect("preset 6 is valid");
    writer.write_all(text.as_bytes()).expect("writing to memory cannot fail");
    STANDARD.encode(writer.finish().expect("writing to memory cannot fail"))
}

/// The text of a `content` value.
pub fn decompress(content: &str) -> Result<String, DecodeError> {
    let bytes = STANDARD.decode(content.trim()).map_err(|error| DecodeError::Base64(error.to_string()))?;
    let mut out = Vec::new();
    XzReader::new(bytes.as_slice(), true)
        .read_to_end(&mut out)
        .map_err(|error| DecodeError::Xz(error.to_string()))?;
    String::from_utf8(out).map_err(|_| DecodeError::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_an_xz_stream_in_padded_base64() {
        for text in ["", "{}", "{\"title\": \"Synapse é😀\"}", &"x".repeat(100_000)] {
            let content = compress(text);
            assert_eq!(decompress(&content).unwrap(), text);
            let bytes = STANDARD.decode(&content).unwrap();
            assert_eq!(&bytes[..6], b"\xfd7zXZ\x00", "the xz magic");
            assert_eq!(&bytes[bytes.len() - 2..], b"YZ", "the xz footer magic");
            assert_eq!(bytes[7], 0x04, "CRC64, as Python's default");
            assert!(content.len() % 4 == 0 && !content.contains(['-', '_']));
        }
        assert!(compress(&"x".repeat(100_000)).len() < 1_000);
    }

    /// Python: `base64.b64encode(lzma.compress(b'{"a": 1}')).decode()`.
    const PYTHON: &str =
        "/Td6WFoAAATm1rRGAgAhARYAAAB0L+WjAQAHeyJhIjogMX0A3GfKofJFxeEAASAIuxnZux+2830BAAAAAARZWg==";

    #[test]
    fn decodes_what_python_wrote_and_names_what_is_wrong() {
        assert_eq!(decompress(PYTHON).unwrap(), r#"{"a": 1}"#);
        assert!(matches!(decompress("***"), Err(DecodeError::Base64(_))));
        assert!(matches!(decompress("aGVsbG8="), Err(DecodeError::Xz(_))));
    }
}
