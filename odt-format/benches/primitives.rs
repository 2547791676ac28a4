//! Throughput of the primitives the data path is built from (run: `cargo bench -p odt-format`).
use std::time::Instant;

fn rate(label: &str, bytes: usize, mut f: impl FnMut()) {
    f();
    let t = Instant::now();
    let n = 8;
    for _ in 0..n {
        f();
    }
    let s = t.elapsed().as_secs_f64();
    println!("{label:<28} {:>8.0} MB/s", (bytes * n) as f64 / s / 1e6);
}

fn main() {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    use sha2::Digest;
    let buf = vec![7u8; 64 << 20];
    rate("sha2 sha256", buf.len(), || {
        std::hint::black_box(sha2::Sha256::digest(&buf));
    });
    rate("ring sha256", buf.len(), || {
        std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, &buf));
    });
    rate("sha2 sha256 1MiB chunks", buf.len(), || {
        for c in buf.chunks(1 << 20) {
            std::hint::black_box(sha2::Sha256::digest(c));
        }
    });
    rate("blake3 1MiB chunks", buf.len(), || {
        for c in buf.chunks(1 << 20) {
            std::hint::black_box(odt_format::crypto::stream::chunk_digest(c));
        }
    });
    rate("sha1", buf.len(), || {
        std::hint::black_box(sha1::Sha1::digest(&buf));
    });
    rate("sha2 sha512", buf.len(), || {
        std::hint::black_box(sha2::Sha512::digest(&buf));
    });
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[1u8; 32]).unwrap());
    let mut chunk = vec![0u8; 1 << 20];
    rate("ring aes-256-gcm 1MiB chunks", buf.len(), || {
        for _ in 0..64 {
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key([0; 12]),
                    Aad::from([0u8; 32]),
                    &mut chunk,
                )
                .unwrap();
            let _ = std::hint::black_box(tag);
        }
    });
}
