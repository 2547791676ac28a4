//! The provider-side importer: the command implementations behind `odt-import`.

pub mod cli;
pub mod commands;
pub mod plan;
