//! The fairshare policy language.

pub mod ast;
mod check;
mod diag;
pub mod gen;
pub mod model;
mod parse;
mod units;

pub use diag::{render, Diagnostic, Kind, Label, Severity};

/// Parses policy text into a syntax tree. Only syntax is checked.
pub fn parse(src: &str) -> Result<ast::File, Vec<Diagnostic>> {
    parse::parse(src)
}

/// Checks a syntax tree and builds the validated model, or returns every
/// problem found, ordered by position.
pub fn check(file: &ast::File) -> Result<model::Policy, Vec<Diagnostic>> {
    check::check(file)
}

/// [`parse`] then [`check`].
pub fn load(src: &str) -> Result<(ast::File, model::Policy), Vec<Diagnostic>> {
    let file = parse(src)?;
    let policy = check(&file)?;
    Ok((file, policy))
}
