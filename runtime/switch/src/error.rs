//! The crate's error type.

/// Everything the switch refuses: a JSON it cannot run, and control-plane
/// requests that do not fit the loaded program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the BMv2 JSON does not read at {path}: {reason}")]
    Json { path: String, reason: String },
    #[error("cannot run this BMv2 JSON: {path}: {reason}")]
    Refused { path: String, reason: String },
    #[error("no table `{0}` in the program")]
    UnknownTable(String),
    #[error("table `{table}` has no action `{action}`")]
    UnknownAction { table: String, action: String },
    #[error("no {kind} `{name}` in the program")]
    UnknownObject { kind: &'static str, name: String },
    #[error("table `{table}`: {reason}")]
    BadEntry { table: String, reason: String },
    #[error("table `{table}` has no entry with handle {handle}")]
    NoSuchEntry { table: String, handle: u32 },
    #[error("table `{table}` already has an entry with this key (handle {handle})")]
    DuplicateEntry { table: String, handle: u32 },
    #[error("table `{table}` is full: it holds at most {size} entries")]
    TableFull { table: String, size: u32 },
    #[error("`{name}` has {size} cells; index {index} is out of range")]
    BadIndex { name: String, index: u64, size: u32 },
    #[error("meter `{name}`: {reason}")]
    BadMeter { name: String, reason: String },
    #[error("clone session {session}: {reason}")]
    BadCloneSession { session: u32, reason: String },
    #[error("no clone session {0}")]
    NoSuchCloneSession(u32),
    #[error("multicast group {group}: {reason}")]
    BadMulticastGroup { group: u32, reason: String },
    #[error("multicast group {0} exists already")]
    MulticastGroupExists(u32),
    #[error("no multicast group {0}")]
    NoSuchMulticastGroup(u32),
    #[error("{0} priority queues per port: the count must be in 1..={max}", max = crate::pre::MAX_PRIORITY_QUEUES)]
    BadPriorityQueues(u32),
    #[error("controller header: {0}")]
    BadController(String),
    #[error("rules: {0}")]
    Rules(String),
}

pub(crate) fn refused<T>(path: impl Into<String>, reason: impl Into<String>) -> Result<T, Error> {
    Err(Error::Refused {
        path: path.into(),
        reason: reason.into(),
    })
}
