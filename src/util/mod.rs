//! Foundation helpers with no knowledge of promptgate's domain: files,
//! hashing, and source spans of YAML documents.

pub mod fs;
pub mod yaml_depth;
pub mod yaml_spans;

use sha2::{Digest, Sha256};

/// SHA-256 of `content` as lowercase hex (64 characters).
pub fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// serde_yaml appends " at line L column C"; the location is shown separately.
pub fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
