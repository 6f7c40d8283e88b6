//! Diagnostics: what went wrong, where, and what to do about it.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};

use crate::ast::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// The category of a diagnostic, for programs that react to particular
/// mistakes (tests, editors). The message says the same in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The text does not follow the grammar.
    Syntax,
    /// A name that is referred to but never declared.
    UnknownName,
    /// A word that is not one of the allowed values (algorithm, target, protocol).
    UnknownValue,
    /// A name, address, port or device id declared twice where it must be unique.
    DuplicateName,
    /// A property given twice in one block.
    DuplicateProperty,
    /// A required property is absent (or a required block is empty).
    MissingProperty,
    /// A quantity with no unit, an unknown unit, or a unit of the wrong kind.
    UnitMismatch,
    /// A number that is not whole where it must be, or does not fit.
    BadNumber,
    /// A number outside the range allowed for its property.
    OutOfRange,
    /// A malformed IPv4 address.
    BadAddress,
    /// A prefix whose length exceeds 32 or whose host bits are set.
    BadPrefix,
    /// Client prefixes that share addresses, or an address inside a client prefix.
    OverlappingPrefixes,
    /// A datacenter whose fixed reservations exceed what it can carry.
    OverReserved,
    /// A server load above 100%.
    LoadAbove100,
    /// An edge with no path to any datacenter.
    NoRoute,
    /// A service placed at a node that is not a datacenter.
    NotADatacenter,
    /// A link from a node to itself.
    SelfLink,
    /// Two uses of the same port on one switch.
    PortClash,
    /// A capacity, rate or period of zero where it must be positive.
    Zero,
}

/// A piece of source text and what to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One problem found in a policy file.
///
/// `Display` prints only the message; [`crate::render`] prints the full
/// report with the source excerpt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    pub severity: Severity,
    pub kind: Kind,
    /// One line saying what is wrong.
    pub message: String,
    /// The offending text.
    pub primary: Label,
    /// Related places, such as the first definition of a duplicate.
    pub secondary: Vec<Label>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        kind: Kind,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            kind,
            message: message.into(),
            primary: Label {
                span,
                text: label.into(),
            },
            secondary: Vec::new(),
            help: None,
        }
    }

    #[must_use]
    pub fn with_secondary(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}

/// Renders diagnostics as plain text in the style of rustc, followed by a
/// summary line. The output depends only on the arguments.
pub fn render(diags: &[Diagnostic], file_name: &str, src: &str) -> String {
    let file = SimpleFile::new(file_name, src);
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let clamp = |s: Span| {
        let end = s.end.min(src.len());
        s.start.min(end)..end
    };
    let mut out = String::new();
    for d in diags {
        let severity = match d.severity {
            Severity::Error => cs::Severity::Error,
            Severity::Warning => cs::Severity::Warning,
        };
        let mut labels = vec![
            cs::Label::primary((), clamp(d.primary.span)).with_message(d.primary.text.clone())
        ];
        labels.extend(
            d.secondary
                .iter()
                .map(|l| cs::Label::secondary((), clamp(l.span)).with_message(l.text.clone())),
        );
        let notes = d.help.iter().map(|h| format!("help: {h}")).collect();
        let cd = cs::Diagnostic::new(severity)
            .with_message(d.message.clone())
            .with_labels(labels)
            .with_notes(notes);
        match term::emit_into_string(&config, &file, &cd) {
            Ok(text) => out.push_str(&text),
            // Only reachable if a span is not on a character boundary; the
            // message is still worth showing.
            Err(_) => {
                let word = match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                out.push_str(&format!("{word}: {}\n --> {file_name}\n\n", d.message));
            }
        }
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    if errors > 0 {
        out.push_str(&format!(
            "error: could not compile `{file_name}` due to {}",
            plural(errors, "previous error")
        ));
        if warnings > 0 {
            out.push_str(&format!("; {} emitted", plural(warnings, "warning")));
        }
        out.push('\n');
    } else if warnings > 0 {
        out.push_str(&format!(
            "warning: `{file_name}` generated {}\n",
            plural(warnings, "warning")
        ));
    }
    out
}
