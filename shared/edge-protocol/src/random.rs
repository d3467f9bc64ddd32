//! The caller's source of randomness. The crate needs random bits for ECIDs and request ids but
//! takes no RNG dependency: a component fills them from `wasi:random`, a test from a fixed seed.

/// Fills buffers with random bytes.
pub trait RandomSource {
    /// Overwrites all of `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> RandomSource for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf);
    }
}

/// `N` random bytes from `rng`.
pub fn bytes<const N: usize>(rng: &mut dyn RandomSource) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill(&mut out);
    out
}
