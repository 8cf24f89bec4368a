//! Compressed request bodies (`Content-Encoding`), decoded so DLP scans
//! what is really sent: Codex compresses its Responses requests with zstd.
//! Both sides are bounded (a body over the limit, an unknown coding or a
//! corrupt stream is refused, never passed unscanned).

use std::io::Read;

/// The most a compressed body may hold, and decode to.
pub const MAX_ENCODED: usize = 32 << 20;
pub const MAX_DECODED: usize = 128 << 20;

/// `data` decoded through every coding of the header (applied in order,
/// so undone last first).
pub fn decode(content_encoding: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = data.to_vec();
    for coding in content_encoding.rsplit(',') {
        let coding = coding.trim().to_ascii_lowercase();
        out = match coding.as_str() {
            "" | "identity" => out,
            "gzip" | "x-gzip" => read_all(flate2::read::MultiGzDecoder::new(&out[..]))?,
            "deflate" => read_all(flate2::read::ZlibDecoder::new(&out[..]))?,
            "zstd" => {
                let d = ruzstd::decoding::StreamingDecoder::new(&out[..])
                    .map_err(|e| format!("zstd: {e}"))?;
                read_all(d)?
            }
            other => return Err(format!("the content coding {other:?} is not supported")),
        };
    }
    Ok(out)
}

fn read_all(r: impl Read) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    r.take(MAX_DECODED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("a corrupt body: {e}"))?;
    if out.len() > MAX_DECODED {
        return Err("the body decodes to more than the limit".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn codings_are_undone_in_reverse_and_unknown_ones_refused() {
        let text = b"the body with AKIA-looking secrets";
        assert_eq!(decode("gzip", &gzip(text)).expect("gzip"), text);
        assert_eq!(
            decode("gzip, gzip", &gzip(&gzip(text))).expect("twice"),
            text
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(text).expect("write");
        assert_eq!(
            decode("Deflate", &z.finish().expect("finish")).expect("deflate"),
            text
        );
        let zst = ruzstd::encoding::compress_to_vec(
            &text[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(decode("zstd", &zst).expect("zstd"), text);
        assert!(decode("br", text).is_err());
        assert!(decode("gzip", b"not gzip").is_err());
        assert!(decode("zstd", b"not zstd").is_err());
    }

    #[test]
    fn a_bomb_is_refused() {
        let zeros = vec![0u8; MAX_DECODED + 1024];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < MAX_ENCODED);
        assert!(decode("gzip", &bomb).expect_err("a bomb").contains("limit"));
    }
}
