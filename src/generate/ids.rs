//! Ids: each pre-order index's asset id, through a keyed permutation.

use super::STREAM_IDS;
use crate::rng::{mix, splitmix64};

/// Maps a pre-order index to an asset id.
pub(super) struct Ids {
    seed: u64,
    pub(super) assets: u64,
    perm: Feistel,
    /// Indices that always get plain numeric ids (the sites).
    plain: Vec<u64>,
}

impl Ids {
    pub(super) fn new(seed: u64, assets: u64, plain: &[u64]) -> Self {
        Self {
            seed,
            assets,
            perm: Feistel::new(assets.saturating_sub(1).max(1), mix(seed, STREAM_IDS)),
            plain: plain.to_vec(),
        }
    }

    pub(super) fn id(&self, index: u64) -> String {
        if index == 0 {
            return "1".to_owned();
        }
        let h = mix(self.seed ^ STREAM_IDS, index);
        let num = 1000 + 3 * self.perm.permute(index - 1) + h % 3;
        if (h >> 8) % 200 == 0 && !self.plain.contains(&index) {
            format!("{num}:item/{}", 1 + (h >> 16) % 500)
        } else {
            num.to_string()
        }
    }
}

/// A keyed bijection on `0..domain`: a 4-round balanced Feistel network on
/// the smallest even number of bits that covers the domain, with cycle walking.
struct Feistel {
    domain: u64,
    half: u32,
    keys: [u64; 4],
}

impl Feistel {
    fn new(domain: u64, key: u64) -> Self {
        let bits = (64 - (domain - 1).leading_zeros()).max(2);
        let half = bits.div_ceil(2);
        let mut k = key;
        let keys = [
            splitmix64(&mut k),
            splitmix64(&mut k),
            splitmix64(&mut k),
            splitmix64(&mut k),
        ];
        Self { domain, half, keys }
    }

    fn permute(&self, x: u64) -> u64 {
        debug_assert!(x < self.domain);
        let mask = (1u64 << self.half) - 1;
        let mut y = x;
        loop {
            let (mut l, mut r) = (y >> self.half, y & mask);
            for key in self.keys {
                let f = mix(key, r) & mask;
                (l, r) = (r, l ^ f);
            }
            y = (l << self.half) | r;
            // The cycle through x contains x < domain, so this ends.
            if y < self.domain {
                return y;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feistel_is_a_bijection() {
        for domain in [1, 2, 3, 7, 16, 17, 1000, 4097] {
            let f = Feistel::new(domain, 42);
            let mut seen: Vec<u64> = (0..domain).map(|x| f.permute(x)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..domain).collect::<Vec<_>>(), "domain {domain}");
        }
    }
}
