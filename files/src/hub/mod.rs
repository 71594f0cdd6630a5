//! Models from the Hugging Face Hub: the Hub's HTTP interface (`client`), which files make a
//! model directory (`files`), and resolving a manifest's revisions to commits before the plan
//! (`pin`). The `hub` stage kind downloads a resolved model as a node's outputs, so the cache is
//! the model store: content-addressed, checked, shared by every study on the same cache root,
//! and collected by `basins gc` like any result.

mod client;
mod files;
mod pin;

pub use client::{
    check, git_blob_id, Hub, HubError, Lfs, ModelInfo, Sibling, DEFAULT_ENDPOINT, ENDPOINT_VAR,
    OFFLINE_VAR,
};
pub use files::{has_tokenizer, select, tokenizer_files};
pub use pin::{pin, How, Pin};
