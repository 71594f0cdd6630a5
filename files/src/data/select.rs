//! Choosing rows of an eval set: a `where` filter on group columns and the gold label, and the
//! loss-surface subset (filter, shuffle, first n) the paper's code takes with Hugging Face
//! `datasets`: `dataset.filter(...).shuffle(seed=42).select(range(512))`
//! (`src/constellations/dataloaders/get_datasets.py` in the official repository).
//!
//! `shuffle(seed)` there is `numpy.random.default_rng(seed).permutation(len)`: a PCG64 generator
//! seeded through numpy's `SeedSequence`, then a Fisher-Yates shuffle drawing each index by
//! masked rejection. Both are reproduced here bit for bit (unit-tested against numpy's output,
//! cross-checked in `analysis/tests/python_reference.rs`), so a HANS file in the official row
//! order gives the paper's exact 512 rows.

/// The manifest's types, shared with the engine that wrote them into the node's params.
pub use basins_study::manifest::{Surface, Where};

/// Whether a row passes `filter`, given its group values and its gold label's name. A column
/// the row does not have never matches (so a typo selects nothing, which callers report).
pub fn matches<'a>(filter: &Where, group: impl Fn(&str) -> Option<&'a str>, label: &str) -> bool {
    filter.0.iter().all(|(column, accepted)| {
        let value = if column == "label" {
            Some(label)
        } else {
            group(column)
        };
        value.is_some_and(|v| accepted.iter().any(|a| a == v))
    })
}

/// The rows of the surface subset, in the order they are scored: the rows passing the filter
/// (file order), permuted as numpy permutes them when a seed is given, the first `n`.
pub fn surface_rows(passing: Vec<usize>, surface: &Surface) -> Vec<usize> {
    let mut rows = passing;
    if let Some(seed) = surface.shuffle_seed {
        let perm = numpy_permutation(rows.len(), seed);
        rows = perm.into_iter().map(|i| rows[i]).collect();
    }
    if let Some(n) = surface.n {
        rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    rows
}

/// `numpy.random.default_rng(seed).permutation(n)`.
pub fn numpy_permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut g = NumpyPcg64::new(seed);
    let mut v: Vec<usize> = (0..n).collect();
    // Generator.shuffle: for i from n-1 down to 1, j = random_interval(i), swap.
    for i in (1..n).rev() {
        let j = g.interval(i as u64) as usize;
        v.swap(i, j);
    }
    v
}

/// numpy's PCG64 bit generator: a 128-bit LCG with the XSL-RR output (PCG's
/// `pcg_setseq_128_xsl_rr_64`), numpy's seeding and its buffered 32-bit draws.
struct NumpyPcg64 {
    state: u128,
    inc: u128,
    spare: Option<u32>,
}

const PCG_MULT: u128 = 0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645;

impl NumpyPcg64 {
    fn new(seed: u64) -> Self {
        let words = seed_sequence(seed, 8);
        let word64 = |i: usize| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32);
        // pcg64_set_seed(state = s[0] << 64 | s[1], inc = s[2] << 64 | s[3]).
        let state = (u128::from(word64(0)) << 64) | u128::from(word64(1));
        let stream = (u128::from(word64(2)) << 64) | u128::from(word64(3));
        // pcg_setseq_128_srandom_r: state 0, step, add the initial state, step.
        let mut g = NumpyPcg64 {
            state: 0,
            inc: (stream << 1) | 1,
            spare: None,
        };
        g.step();
        g.state = g.state.wrapping_add(state);
        g.step();
        g
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }

    /// Step, then output XSL-RR of the new state (numpy's `pcg64_random_r`).
    fn next_u64(&mut self) -> u64 {
        self.step();
        let s = self.state;
        (((s >> 64) as u64) ^ (s as u64)).rotate_right((s >> 122) as u32)
    }

    fn next_u32(&mut self) -> u32 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        let next = self.next_u64();
        self.spare = Some((next >> 32) as u32);
        next as u32
    }

    /// numpy's `random_interval(max)`: a uniform integer in [0, max] by masked rejection.
    fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        if max <= u64::from(u32::MAX) {
            loop {
                let v = u64::from(self.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        } else {
            loop {
                let v = self.next_u64() & mask;
                if v <= max {
                    return v;
                }
            }
        }
    }
}

/// numpy's `SeedSequence(seed).generate_state(n_words, uint32)` for a non-negative integer
/// seed with no spawn key (pool size 4).
fn seed_sequence(seed: u64, n_words: usize) -> Vec<u32> {
    const INIT_A: u32 = 0x43b0_d7e5;
    const MULT_A: u32 = 0x931e_8875;
    const INIT_B: u32 = 0x8b51_f9dd;
    const MULT_B: u32 = 0x58f3_8ded;
    const MIX_MULT_L: u32 = 0xca01_f9dd;
    const MIX_MULT_R: u32 = 0x4973_f715;
    const XSHIFT: u32 = 16;
    // The seed as little-endian 32-bit words (at least one).
    let mut entropy = vec![seed as u32];
    if seed >> 32 != 0 {
        entropy.push((seed >> 32) as u32);
    }
    let mut hash_const = INIT_A;
    let mut hashmix = |value: u32| -> u32 {
        let mut v = value ^ hash_const;
        hash_const = hash_const.wrapping_mul(MULT_A);
        v = v.wrapping_mul(hash_const);
        v ^ (v >> XSHIFT)
    };
    let mix = |x: u32, y: u32| -> u32 {
        let r = MIX_MULT_L
            .wrapping_mul(x)
            .wrapping_sub(MIX_MULT_R.wrapping_mul(y));
        r ^ (r >> XSHIFT)
    };
    let mut pool = [0u32; 4];
    for (i, p) in pool.iter_mut().enumerate() {
        *p = hashmix(entropy.get(i).copied().unwrap_or(0));
    }
    for src in 0..4 {
        for dst in 0..4 {
            if src != dst {
                let h = hashmix(pool[src]);
                pool[dst] = mix(pool[dst], h);
            }
        }
    }
    for &e in entropy.iter().skip(4) {
        for p in pool.iter_mut() {
            let h = hashmix(e);
            *p = mix(*p, h);
        }
    }
    let mut hash_const = INIT_B;
    (0..n_words)
        .map(|i| {
            let mut v = pool[i % 4] ^ hash_const;
            hash_const = hash_const.wrapping_mul(MULT_B);
            v = v.wrapping_mul(hash_const);
            v ^ (v >> XSHIFT)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_numpys() {
        // numpy 2.4.6: np.random.default_rng(42).permutation(10) and (0).permutation(20)
        assert_eq!(numpy_permutation(10, 42), [5, 6, 0, 7, 3, 2, 4, 9, 1, 8]);
        assert_eq!(
            numpy_permutation(20, 0),
            [4, 19, 6, 2, 13, 16, 3, 11, 10, 8, 0, 12, 7, 5, 18, 17, 14, 9, 1, 15]
        );
        assert!(numpy_permutation(0, 1).is_empty());
    }

    #[test]
    fn surface_filters_shuffles_and_cuts() {
        let groups = [
            ("lexical_overlap", "x"),
            ("subsequence", "y"),
            ("lexical_overlap", "y"),
        ];
        let filter = Where(
            [
                ("heuristic".to_string(), vec!["lexical_overlap".to_string()]),
                ("label".to_string(), vec!["y".to_string()]),
            ]
            .into(),
        );
        let passing: Vec<usize> = groups
            .iter()
            .enumerate()
            .filter(|(_, (h, l))| matches(&filter, |c| (c == "heuristic").then_some(*h), l))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(passing, [2]);
        let s = Surface {
            filter: Where::default(),
            shuffle_seed: Some(42),
            n: Some(3),
        };
        // The first 3 of numpy's permutation of 10 rows.
        assert_eq!(surface_rows((0..10).collect(), &s), [5, 6, 0]);
        let first = Surface {
            n: Some(2),
            ..Surface::default()
        };
        assert_eq!(surface_rows((10..20).collect(), &first), [10, 11]);
    }
}
