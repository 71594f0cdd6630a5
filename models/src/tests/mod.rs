//! Tests of the library through its public API, kept out of `tests/` on purpose: an
//! integration-test crate of this package is built at opt-level 3 and instantiates every burn
//! generic it calls once more (finetuning 80 s and the checkpoint tests 62 s of a 2-core test
//! build, where in here they add about 10 s to the library's test build; docs/engine.md).
//! `tests/minilm_conformance.rs` stays a crate of its own: in here it cost 140 s, there 57 s.

mod alignment;
#[path = "../../tests/common/mod.rs"]
mod common;
mod finetune;
mod gradients;
mod hf_checkpoints;
