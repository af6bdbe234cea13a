//! PostgreSQL: import (stubs until ported).
#![allow(unused_imports)]

use cairn_core::entities::*;
use cairn_core::Result;

use super::{not_yet, PgStore};
use crate::*;

impl PgStore {
    pub(super) async fn import_experiment_impl(
        &self,
        request: ImportExperiment,
    ) -> Result<Imported> {
        let _ = request;
        Err(not_yet("import_experiment_impl"))
    }

    pub(super) async fn import_run_impl(&self, request: ImportRun) -> Result<Imported> {
        let _ = request;
        Err(not_yet("import_run_impl"))
    }

    pub(super) async fn import_logged_model_impl(
        &self,
        request: ImportLoggedModel,
    ) -> Result<Imported> {
        let _ = request;
        Err(not_yet("import_logged_model_impl"))
    }

    pub(super) async fn import_registered_model_impl(
        &self,
        request: ImportRegisteredModel,
    ) -> Result<bool> {
        let _ = request;
        Err(not_yet("import_registered_model_impl"))
    }

    pub(super) async fn import_model_version_impl(
        &self,
        request: ImportModelVersion,
    ) -> Result<bool> {
        let _ = request;
        Err(not_yet("import_model_version_impl"))
    }

    pub(super) async fn import_aliases_impl(&self, name: &str, aliases: Vec<Alias>) -> Result<u64> {
        let _ = name;
        let _ = aliases;
        Err(not_yet("import_aliases_impl"))
    }
}
