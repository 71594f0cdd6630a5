//! Models and data sets from the Hugging Face Hub: the Hub's HTTP interface (`client`), which
//! files make a model directory (`files`), which parquet files make a data set's split and
//! their rows (`dataset`), and the answers `basins_study::pin` resolves a manifest's revisions
//! to commits with (`Hub` is its `Revisions`). The `hub` and `hub_data` stage kinds download
//! resolved models and splits as nodes' outputs, so the cache is the store: content-addressed,
//! checked, shared by every study on the same cache root, and collected by `basins gc` like any
//! result.

mod client;
pub mod dataset;
mod files;

pub use client::{
    check, git_blob_id, Hub, HubError, Lfs, ModelInfo, Sibling, DEFAULT_ENDPOINT, ENDPOINT_VAR,
    OFFLINE_VAR,
};
pub use files::{has_tokenizer, select, tokenizer_files};

impl basins_study::pin::Revisions for Hub {
    fn offline(&self) -> bool {
        Hub::offline(self)
    }

    fn endpoint(&self) -> &str {
        Hub::endpoint(self)
    }

    fn commit(
        &self,
        kind: basins_study::manifest::hub::RepoKind,
        repo: &str,
        revision: &str,
    ) -> Result<String, basins_study::pin::Unanswered> {
        use basins_study::pin::Unanswered;
        match self.repo_info(kind, repo, revision) {
            Ok(info) => Ok(info.sha),
            // The Hub's answer about the model (401, 404) is final; a network failure is not.
            Err(e @ (HubError::Unreachable { .. } | HubError::Status { code: 500.., .. })) => {
                Err(Unanswered::Unreachable(e.to_string()))
            }
            Err(e) => Err(Unanswered::Final(e.to_string())),
        }
    }
}

/// A listed file of one byte with no digest, as the selection tests list repositories.
#[cfg(test)]
fn sibling(name: &str) -> Sibling {
    Sibling {
        rfilename: name.to_owned(),
        size: Some(1),
        blob_id: None,
        lfs: None,
    }
}
