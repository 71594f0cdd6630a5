//! `[interpolate] blocks`, `hold` and `align`: where along the network a barrier sits, and
//! whether it survives a permutation of model B's units.
//!
//! A block is a group of a BERT classifier's parameters that moves as one on a block path:
//! `embeddings`, one encoder layer `layer.<n>` (counted from 0), or `pooler+head` (the pooler
//! and the classification head). `"per_layer"` names every block of the model, which for a
//! checkpoint from the Hub or disk is known only once it is read.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// One block of parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Block {
    Embeddings,
    Layer(u32),
    PoolerHead,
}

/// What `blocks` accepts, for error messages.
pub const BLOCK_NAMES: &str =
    "`embeddings`, `layer.<n>` (an encoder layer, from 0) or `pooler+head`";

impl Block {
    pub fn parse(s: &str) -> Result<Block, String> {
        match s {
            "embeddings" => Ok(Block::Embeddings),
            "pooler+head" => Ok(Block::PoolerHead),
            _ => s
                .strip_prefix("layer.")
                .and_then(|n| n.parse::<u32>().ok().filter(|_| !n.starts_with('+')))
                .map(Block::Layer)
                .ok_or_else(|| format!("`{s}` is not a block: a block is {BLOCK_NAMES}")),
        }
    }

    pub fn name(self) -> String {
        match self {
            Block::Embeddings => "embeddings".into(),
            Block::Layer(n) => format!("layer.{n}"),
            Block::PoolerHead => "pooler+head".into(),
        }
    }

    /// Every block of a model with `layers` encoder layers, input to output.
    pub fn all(layers: u32) -> Vec<Block> {
        let mut v = vec![Block::Embeddings];
        v.extend((0..layers).map(Block::Layer));
        v.push(Block::PoolerHead);
        v
    }
}

/// Which blocks get paths of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocks {
    /// Every block of the model, whatever its depth.
    PerLayer,
    /// These blocks, in this order.
    Named(Vec<Block>),
}

impl Blocks {
    /// The blocks of a model with `layers` encoder layers; an error names a block it lacks.
    pub fn of(&self, layers: u32) -> Result<Vec<Block>, String> {
        match self {
            Blocks::PerLayer => Ok(Block::all(layers)),
            Blocks::Named(v) => {
                if let Some(b) = v
                    .iter()
                    .find(|b| matches!(b, Block::Layer(n) if *n >= layers))
                {
                    return Err(format!(
                        "block `{}`: the model has {layers} encoder layers (layer.0 to layer.{})",
                        b.name(),
                        layers.saturating_sub(1)
                    ));
                }
                Ok(v.clone())
            }
        }
    }
}

impl Serialize for Blocks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Blocks::PerLayer => s.serialize_str("per_layer"),
            Blocks::Named(v) => s.collect_seq(v.iter().map(|b| b.name())),
        }
    }
}

impl<'de> Deserialize<'de> for Blocks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Blocks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "\"per_layer\" or a list of blocks ({BLOCK_NAMES})")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Blocks, E> {
                match s {
                    "per_layer" => Ok(Blocks::PerLayer),
                    other => Err(E::custom(format!(
                        "`{other}`: blocks are \"per_layer\" (every block) or a list of blocks \
                         ({BLOCK_NAMES})"
                    ))),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Blocks, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    let b = Block::parse(&s).map_err(de::Error::custom)?;
                    if v.contains(&b) {
                        return Err(de::Error::custom(format!("block `{s}` is listed twice")));
                    }
                    v.push(b);
                }
                if v.is_empty() {
                    return Err(de::Error::custom("the block list is empty"));
                }
                Ok(Blocks::Named(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Where a block path holds the blocks that do not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hold {
    /// At model A: the block goes from A's weights to B's inside model A.
    A,
    /// At model B: the block goes from B's weights to A's inside model B.
    B,
}

impl Hold {
    pub fn name(self) -> &'static str {
        match self {
            Hold::A => "a",
            Hold::B => "b",
        }
    }
}

/// `[interpolate] hold`: `"a"` (the default) or `"both"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawHold {
    A,
    Both,
}

impl RawHold {
    pub fn holds(self) -> Vec<Hold> {
        match self {
            RawHold::A => vec![Hold::A],
            RawHold::Both => vec![Hold::A, Hold::B],
        }
    }
}

/// `[interpolate] align`: how model B's units are matched to A's before the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    /// Weight matching (Git Re-Basin): the permutation maximising the inner product of the
    /// two models' weights, found by linear assignment.
    Weights,
}

/// The resolved `blocks` and `hold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockPaths {
    pub blocks: Blocks,
    pub hold: Vec<Hold>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_parse_and_name_themselves() {
        for s in ["embeddings", "layer.0", "layer.11", "pooler+head"] {
            assert_eq!(Block::parse(s).unwrap().name(), s);
        }
        for s in [
            "layer.",
            "layer.x",
            "layer.+1",
            "pooler",
            "head",
            "Embeddings",
        ] {
            assert!(
                Block::parse(s).unwrap_err().contains("is not a block"),
                "{s}"
            );
        }
        assert_eq!(
            Block::all(2),
            [
                Block::Embeddings,
                Block::Layer(0),
                Block::Layer(1),
                Block::PoolerHead
            ]
        );
        let named = Blocks::Named(vec![Block::Layer(3)]);
        assert!(named.of(2).unwrap_err().contains("2 encoder layers"));
        assert_eq!(named.of(4).unwrap(), [Block::Layer(3)]);
    }
}
