//! The P4Runtime device config of a Tofino switch, built from the output
//! folder of the Tofino compiler (bf-p4c) and packed in either of the two
//! forms Stratum's Tofino targets accept in the `p4_device_config` field of
//! `SetForwardingPipelineConfig`.
//!
//! # Public API
//!
//! - [`TofinoBuild::read`] reads a compiler output folder into a
//!   [`TofinoBuild`] (program name, BfRt schema, one or more [`Pipeline`]s).
//! - [`pack`] turns a build into device-config bytes in a [`Packing`];
//!   [`unpack`] parses such bytes back into a build.
//! - [`pack_dir`] is `read` followed by `pack`, with errors that name the
//!   folder's files.
//! - [`Packing`] parses from `bfrt` and `legacy` (its [`FromStr`]), the
//!   words a command-line option would take.
//! - [`meter::for_stratum`] maps a meter's rates and bursts to what a Tofino
//!   switch behind Stratum keeps of them (byte meters in whole kbit/s and
//!   kbit), so that what a controller writes is what it reads back.
//! - Every failure is an [`Error`] that names the file or the byte offset,
//!   what was expected and what was found. Nothing here panics on bad input.
//!
//! # The folder
//!
//! Two layouts are accepted.
//!
//! - **bf-p4c output.** The folder holds one `<program>.conf` (JSON), the
//!   BfRt schema `bf-rt.json`, and one subfolder per pipeline, named after
//!   the pipeline instance (`pipe` in the usual `Pipeline(...) pipe;`
//!   `Switch(pipe) main;`), holding
//!   `tofino.bin` (or `tofino2.bin` for Tofino 2) and `context.json`. The
//!   `.conf` gives the program name (`p4_devices[0].p4_programs[0]
//!   ["program-name"]`) and, under `p4_pipelines`, each pipeline's name
//!   (`p4_pipeline_name`) and hardware pipes (`pipe_scope`). The paths the
//!   `.conf` lists are those of an SDE installation (`share/tofinopd/...`),
//!   not of this folder, so they are not followed: each pipeline's files are
//!   looked up in the subfolder of its name.
//! - **Flat, or without `.conf`.** The folder holds `bf-rt.json` and either
//!   a `pipe/` (else `pipe0/`) subfolder with the binary and `context.json`,
//!   or the binary and `context.json` directly. There is then one pipeline,
//!   named after its subfolder, or `pipe` when the files are at the top; its
//!   pipe scope is empty. The program name is the folder's own name without
//!   a `.tofino` or `.tofino2` suffix (bf-p4c names its default output folder
//!   `<program>.tofino`, or `<program>.tofino2` for Tofino 2).
//!
//! In both layouts the BfRt schema may also be called `bfrt.json` (the name
//! Stratum's own unpacking tool writes); `bf-rt.json` wins if both exist. It
//! is optional when reading, since the legacy packing does not carry it, and
//! required by [`Packing::Bfrt`]. A folder holding both `tofino.bin` and
//! `tofino2.bin` in one pipeline is refused: which chip it targets would be a
//! guess. `context.json` and `bf-rt.json` must parse as JSON.
//!
//! # The packings
//!
//! - [`Packing::Bfrt`]: the protobuf message `stratum.hal.barefoot.
//!   BfPipelineConfig` (`proto/bf_pipeline_config.proto`): `p4_name` = 1,
//!   `bfruntime_info` = 2 (bf-rt.json), `profiles` = 3, each profile with
//!   `profile_name` = 1, `context` = 2 (context.json), `binary` = 3 (the chip
//!   image) and `pipe_scope` = 4 (packed `uint32`s). Read by `stratum_bfrt`
//!   and `stratum_bf`.
//! - [`Packing::Legacy`]: the older packing of PI, read by `stratum_bf` only:
//!   three length-prefixed fields, each length an unsigned 32-bit
//!   little-endian integer followed by that many bytes, in this order: the
//!   program name, the chip image, context.json. Nothing else is carried (no
//!   BfRt schema, no pipeline name, no pipe scope), and only a program with
//!   exactly one pipeline can be packed. Stratum writes the lengths as
//!   unsigned; some older Python packers write them as signed, which is the
//!   same bytes for any length under 2 GiB.
//!
//! # Invariants
//!
//! - A [`TofinoBuild`] returned by [`TofinoBuild::read`] or [`unpack`] has a
//!   non-empty program name and at least one pipeline, and every pipeline has
//!   a non-empty name, binary and context. [`pack`] checks the same of a
//!   build it is given, so a hand-made build cannot produce a config the
//!   switch would reject for an empty field.
//! - `unpack(&pack(b, p)?, p)` gives back `b` for [`Packing::Bfrt`], and `b`
//!   without what the legacy form does not carry for [`Packing::Legacy`]
//!   (BfRt schema `None`, the pipeline named [`LEGACY_PIPELINE_NAME`], an
//!   empty pipe scope).
//! - [`unpack`] of the legacy form reads the three fields and nothing more:
//!   a length running past the end and bytes after the third field are both
//!   errors.
//!
//! Boundary: this crate knows files and bytes, not P4Runtime or gRPC; the
//! caller puts the bytes in `ForwardingPipelineConfig.p4_device_config`,
//! and converts its `MeterConfig`s to and from [`meter::MeterRates`].
//!
//! ```
//! use fairshare_tofino::{pack, unpack, Packing, Pipeline, TofinoBuild};
//! let build = TofinoBuild {
//!     p4_name: "np".into(),
//!     bfrt_info: None,
//!     pipelines: vec![Pipeline {
//!         name: "pipe".into(),
//!         pipe_scope: vec![],
//!         binary: vec![0xAA],
//!         context: b"{}".to_vec(),
//!     }],
//! };
//! let bytes = pack(&build, Packing::Legacy).unwrap();
//! assert_eq!(&bytes[..6], &[2, 0, 0, 0, b'n', b'p']);
//! assert_eq!(unpack(&bytes, Packing::Legacy).unwrap(), build);
//! ```

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use prost::Message;

pub mod meter;

/// The message generated from `proto/bf_pipeline_config.proto`.
mod proto {
    include!(concat!(env!("OUT_DIR"), "/stratum.hal.barefoot.rs"));
}

/// The pipeline name an unpacked legacy config gets, since that form does not
/// carry one; also the name of the pipeline of a flat folder. It is the
/// pipeline instance name TNA programs customarily use.
pub const LEGACY_PIPELINE_NAME: &str = "pipe";

/// The chip image names, in the order they are looked for.
const BINARY_NAMES: [&str; 2] = ["tofino.bin", "tofino2.bin"];
/// The BfRt schema names, in order of preference.
const BFRT_NAMES: [&str; 2] = ["bf-rt.json", "bfrt.json"];
/// The pipeline subfolders of a folder without `.conf`, in order of preference.
const PIPE_DIRS: [&str; 2] = ["pipe", "pipe0"];

/// Which of the two device-config forms to produce or parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// Stratum's `BfPipelineConfig` protobuf message.
    Bfrt,
    /// The length-prefixed name, chip image and context.json of PI.
    Legacy,
}

impl FromStr for Packing {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "bfrt" => Ok(Packing::Bfrt),
            "legacy" => Ok(Packing::Legacy),
            other => Err(Error::UnknownPacking(other.to_string())),
        }
    }
}

impl fmt::Display for Packing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Packing::Bfrt => "bfrt",
            Packing::Legacy => "legacy",
        })
    }
}

/// One compiled pipeline of a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipeline {
    /// The pipeline's name (bf-p4c's `p4_pipeline_name`, `pipe` for TNA).
    pub name: String,
    /// The hardware pipes the pipeline is loaded into, as the `.conf` lists
    /// them; empty when the folder has no `.conf`.
    pub pipe_scope: Vec<u32>,
    /// The chip image, `tofino.bin` or `tofino2.bin`.
    pub binary: Vec<u8>,
    /// The driver's description of the pipeline, `context.json`.
    pub context: Vec<u8>,
}

/// A compiled Tofino program, as read from a compiler output folder or
/// parsed back from a device config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TofinoBuild {
    /// The program name the switch reports the pipeline under.
    pub p4_name: String,
    /// The BfRt schema, `bf-rt.json`; `None` when the folder has none or the
    /// config was in the legacy form, which does not carry it.
    pub bfrt_info: Option<Vec<u8>>,
    /// The program's pipelines, at least one.
    pub pipelines: Vec<Pipeline>,
}

/// Everything that can go wrong reading, packing or unpacking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("meter {field}: expected zero or more, found {value}")]
    MeterNegative { field: &'static str, value: i64 },
    #[error(
        "meter {field}: expected 0 or at least 125 bytes/s (1 kbit/s, the finest rate a Tofino switch keeps), found {value}"
    )]
    MeterBelowOneKbit { field: &'static str, value: i64 },
    #[error("meter {field}: expected a burst that rounds up to whole kbits within 64 bits, found {value}")]
    MeterTooLarge { field: &'static str, value: i64 },
    #[error("{}: expected {expected}, but it could not be read: {source}", path.display())]
    Io {
        path: PathBuf,
        expected: &'static str,
        source: std::io::Error,
    },
    #[error("{}: expected {expected}, found no such file", path.display())]
    Missing {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("{}: expected the Tofino compiler's output folder, found a file", path.display())]
    NotAFolder { path: PathBuf },
    #[error(
        "{}: expected the chip image tofino.bin (Tofino) or tofino2.bin (Tofino 2), found neither",
        dir.display()
    )]
    MissingBinary { dir: PathBuf },
    #[error(
        "{}: expected one chip image, found both tofino.bin and tofino2.bin",
        dir.display()
    )]
    TwoBinaries { dir: PathBuf },
    #[error("{}: expected {expected}, found an empty file", path.display())]
    EmptyFile {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("{}: expected {expected}, found text that is not JSON: {reason}", path.display())]
    NotJson {
        path: PathBuf,
        expected: &'static str,
        reason: String,
    },
    #[error("{}: expected one compiler .conf file, found {found}", dir.display())]
    SeveralConfs { dir: PathBuf, found: String },
    #[error("{}: expected {expected}, found {found}", path.display())]
    BadConf {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
    #[error(
        "{}: expected a folder whose name gives the program name, found none (give the folder a name or add the compiler's .conf)",
        dir.display()
    )]
    NoProgramName { dir: PathBuf },
    #[error("the bfrt packing needs the BfRt schema (bf-rt.json), and this build has none")]
    NoBfrtInfo,
    #[error("the legacy packing holds exactly one pipeline, found {found}")]
    LegacyPipelines { found: usize },
    #[error("the legacy packing's lengths are 32-bit, and the {what} is {len} bytes long")]
    TooLarge { what: &'static str, len: usize },
    #[error(
        "legacy config: at offset {offset}, expected {needed} bytes of {what}, found {available}"
    )]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: u64,
        available: usize,
    },
    #[error(
        "legacy config: expected the end after context.json at offset {offset}, found {count} more bytes"
    )]
    TrailingBytes { offset: usize, count: usize },
    #[error("legacy config: expected a UTF-8 program name, found {0:?}")]
    NameNotUtf8(Vec<u8>),
    #[error("bfrt config: expected a BfPipelineConfig protobuf message, found bytes that do not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("{what}: expected {expected}, found {found}")]
    Invalid {
        what: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("expected the packing `bfrt` or `legacy`, found `{0}`")]
    UnknownPacking(String),
}

impl TofinoBuild {
    /// Reads a compiler output folder in either layout of the crate docs.
    pub fn read(dir: impl AsRef<Path>) -> Result<TofinoBuild, Error> {
        let dir = dir.as_ref();
        if !dir.exists() {
            return Err(Error::Missing {
                path: dir.to_path_buf(),
                expected: "the Tofino compiler's output folder",
            });
        }
        if !dir.is_dir() {
            return Err(Error::NotAFolder {
                path: dir.to_path_buf(),
            });
        }
        let bfrt_info = read_bfrt_info(dir)?;
        let build = match find_conf(dir)? {
            Some(conf) => read_with_conf(dir, &conf, bfrt_info)?,
            None => read_without_conf(dir, bfrt_info)?,
        };
        build.check()?;
        Ok(build)
    }

    /// Checks the invariants of the crate docs.
    fn check(&self) -> Result<(), Error> {
        let invalid = |what: String, expected, found| Error::Invalid {
            what,
            expected,
            found,
        };
        if self.p4_name.is_empty() {
            return Err(invalid(
                "program name".into(),
                "a non-empty name",
                "an empty one",
            ));
        }
        if self.pipelines.is_empty() {
            return Err(invalid(
                format!("program {}", self.p4_name),
                "at least one pipeline",
                "none",
            ));
        }
        for (i, p) in self.pipelines.iter().enumerate() {
            let what = || format!("pipeline {i} ({:?})", p.name);
            if p.name.is_empty() {
                return Err(invalid(what(), "a non-empty name", "an empty one"));
            }
            if p.binary.is_empty() {
                return Err(invalid(what(), "a non-empty chip image", "an empty one"));
            }
            if p.context.is_empty() {
                return Err(invalid(what(), "a non-empty context.json", "an empty one"));
            }
        }
        if self.bfrt_info.as_ref().is_some_and(Vec::is_empty) {
            return Err(invalid(
                format!("program {}", self.p4_name),
                "a non-empty BfRt schema or none",
                "an empty one",
            ));
        }
        Ok(())
    }
}

/// Reads `dir` and packs it; unlike `pack(&TofinoBuild::read(dir)?, ..)`, a
/// missing BfRt schema is reported with the path it was looked for at.
pub fn pack_dir(dir: impl AsRef<Path>, packing: Packing) -> Result<Vec<u8>, Error> {
    let dir = dir.as_ref();
    let build = TofinoBuild::read(dir)?;
    if packing == Packing::Bfrt && build.bfrt_info.is_none() {
        return Err(Error::Missing {
            path: dir.join(BFRT_NAMES[0]),
            expected: "the BfRt schema, which the bfrt packing carries",
        });
    }
    pack(&build, packing)
}

/// Packs `build` as device-config bytes in the form `packing`.
pub fn pack(build: &TofinoBuild, packing: Packing) -> Result<Vec<u8>, Error> {
    build.check()?;
    match packing {
        Packing::Bfrt => {
            let bfruntime_info = build.bfrt_info.clone().ok_or(Error::NoBfrtInfo)?;
            let message = proto::BfPipelineConfig {
                p4_name: build.p4_name.clone(),
                bfruntime_info,
                profiles: build
                    .pipelines
                    .iter()
                    .map(|p| proto::bf_pipeline_config::Profile {
                        profile_name: p.name.clone(),
                        context: p.context.clone(),
                        binary: p.binary.clone(),
                        pipe_scope: p.pipe_scope.clone(),
                    })
                    .collect(),
            };
            Ok(message.encode_to_vec())
        }
        Packing::Legacy => {
            let [pipeline] = build.pipelines.as_slice() else {
                return Err(Error::LegacyPipelines {
                    found: build.pipelines.len(),
                });
            };
            let fields: [(&'static str, &[u8]); 3] = [
                ("program name", build.p4_name.as_bytes()),
                ("chip image", &pipeline.binary),
                ("context.json", &pipeline.context),
            ];
            let total = fields.iter().map(|(_, b)| 4 + b.len()).sum();
            let mut out = Vec::with_capacity(total);
            for (what, bytes) in fields {
                let len = u32::try_from(bytes.len()).map_err(|_| Error::TooLarge {
                    what,
                    len: bytes.len(),
                })?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(bytes);
            }
            Ok(out)
        }
    }
}

/// Parses device-config bytes in the form `packing` back into a build.
pub fn unpack(bytes: &[u8], packing: Packing) -> Result<TofinoBuild, Error> {
    let build = match packing {
        Packing::Bfrt => {
            let message = proto::BfPipelineConfig::decode(bytes)?;
            if message.bfruntime_info.is_empty() {
                return Err(Error::NoBfrtInfo);
            }
            TofinoBuild {
                p4_name: message.p4_name,
                bfrt_info: Some(message.bfruntime_info),
                pipelines: message
                    .profiles
                    .into_iter()
                    .map(|p| Pipeline {
                        name: p.profile_name,
                        pipe_scope: p.pipe_scope,
                        binary: p.binary,
                        context: p.context,
                    })
                    .collect(),
            }
        }
        Packing::Legacy => {
            let mut reader = LegacyReader { bytes, offset: 0 };
            let name = reader.field("the program name's length", "the program name")?;
            let binary = reader.field("the chip image's length", "the chip image")?;
            let context = reader.field("context.json's length", "context.json")?;
            if reader.offset < bytes.len() {
                return Err(Error::TrailingBytes {
                    offset: reader.offset,
                    count: bytes.len() - reader.offset,
                });
            }
            let p4_name =
                String::from_utf8(name.to_vec()).map_err(|e| Error::NameNotUtf8(e.into_bytes()))?;
            TofinoBuild {
                p4_name,
                bfrt_info: None,
                pipelines: vec![Pipeline {
                    name: LEGACY_PIPELINE_NAME.to_string(),
                    pipe_scope: Vec::new(),
                    binary: binary.to_vec(),
                    context: context.to_vec(),
                }],
            }
        }
    };
    build.check()?;
    Ok(build)
}

/// A cursor over the legacy form that checks every length before slicing.
struct LegacyReader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> LegacyReader<'a> {
    /// Reads one length-prefixed field: `length` names its 4-byte length,
    /// `what` its contents.
    fn field(&mut self, length: &'static str, what: &'static str) -> Result<&'a [u8], Error> {
        let prefix = self.take(4, length)?;
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        self.take(u64::from(len), what)
    }

    /// Takes `needed` bytes, or reports how many there were.
    fn take(&mut self, needed: u64, what: &'static str) -> Result<&'a [u8], Error> {
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        let truncated = || Error::Truncated {
            what,
            offset: self.offset,
            needed,
            available: rest.len(),
        };
        let n = usize::try_from(needed).map_err(|_| truncated())?;
        let taken = rest.get(..n).ok_or_else(truncated)?;
        self.offset += n;
        Ok(taken)
    }
}

/// Reads the BfRt schema at the top of `dir`, if there is one.
fn read_bfrt_info(dir: &Path) -> Result<Option<Vec<u8>>, Error> {
    for name in BFRT_NAMES {
        let path = dir.join(name);
        if path.is_file() {
            return read_json_file(&path, "the BfRt schema (JSON)").map(Some);
        }
    }
    Ok(None)
}

/// Finds the single `*.conf` file in `dir`, if any.
fn find_conf(dir: &Path) -> Result<Option<PathBuf>, Error> {
    let entries = fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        expected: "the Tofino compiler's output folder",
        source,
    })?;
    let mut confs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            expected: "the Tofino compiler's output folder",
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "conf") && path.is_file() {
            confs.push(path);
        }
    }
    confs.sort();
    match confs.len() {
        0 => Ok(None),
        1 => Ok(confs.pop()),
        _ => Err(Error::SeveralConfs {
            dir: dir.to_path_buf(),
            found: confs
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Reads the bf-p4c layout, guided by its `.conf`.
fn read_with_conf(
    dir: &Path,
    conf_path: &Path,
    bfrt_info: Option<Vec<u8>>,
) -> Result<TofinoBuild, Error> {
    let text = read_file(conf_path, "the compiler's .conf (JSON)")?;
    let conf: serde_json::Value = serde_json::from_slice(&text).map_err(|e| Error::NotJson {
        path: conf_path.to_path_buf(),
        expected: "the compiler's .conf (JSON)",
        reason: e.to_string(),
    })?;
    let bad = |expected: &'static str, found: String| Error::BadConf {
        path: conf_path.to_path_buf(),
        expected,
        found,
    };
    let devices = conf
        .get("p4_devices")
        .and_then(|v| v.as_array())
        .ok_or_else(|| bad("a `p4_devices` array", describe(conf.get("p4_devices"))))?;
    let [device] = devices.as_slice() else {
        return Err(bad(
            "exactly one entry in `p4_devices`",
            format!("{}", devices.len()),
        ));
    };
    let programs = device
        .get("p4_programs")
        .and_then(|v| v.as_array())
        .ok_or_else(|| bad("a `p4_programs` array", describe(device.get("p4_programs"))))?;
    let [program] = programs.as_slice() else {
        return Err(bad(
            "exactly one entry in `p4_programs`",
            format!("{}", programs.len()),
        ));
    };
    let p4_name = program
        .get("program-name")
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            bad(
                "a `program-name` string",
                describe(program.get("program-name")),
            )
        })?
        .to_string();
    let entries = program
        .get("p4_pipelines")
        .and_then(|v| v.as_array())
        .ok_or_else(|| {
            bad(
                "a `p4_pipelines` array",
                describe(program.get("p4_pipelines")),
            )
        })?;
    let mut pipelines = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry
            .get("p4_pipeline_name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                bad(
                    "a `p4_pipeline_name` string in each pipeline",
                    describe(entry.get("p4_pipeline_name")),
                )
            })?;
        // The name becomes a subfolder; a name that climbs out of the folder
        // or is empty is refused rather than followed.
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(bad(
                "a pipeline name that is a plain folder name",
                format!("{name:?}"),
            ));
        }
        let pipe_scope = match entry.get("pipe_scope") {
            None => Vec::new(),
            Some(v) => v
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
                        .collect::<Option<Vec<u32>>>()
                })
                .ok_or_else(|| {
                    bad(
                        "`pipe_scope` as an array of pipe numbers",
                        describe(Some(v)),
                    )
                })?,
        };
        let (binary, context) = read_pipeline_files(&dir.join(name))?;
        pipelines.push(Pipeline {
            name: name.to_string(),
            pipe_scope,
            binary,
            context,
        });
    }
    Ok(TofinoBuild {
        p4_name,
        bfrt_info,
        pipelines,
    })
}

/// Reads the flat layout or the one with a `pipe/` (or `pipe0/`) subfolder.
fn read_without_conf(dir: &Path, bfrt_info: Option<Vec<u8>>) -> Result<TofinoBuild, Error> {
    let (name, files_dir) = PIPE_DIRS
        .iter()
        .map(|sub| (sub.to_string(), dir.join(sub)))
        .find(|(_, path)| path.is_dir())
        .unwrap_or_else(|| (LEGACY_PIPELINE_NAME.to_string(), dir.to_path_buf()));
    let (binary, context) = read_pipeline_files(&files_dir)?;
    Ok(TofinoBuild {
        p4_name: program_name_of(dir)?,
        bfrt_info,
        pipelines: vec![Pipeline {
            name,
            pipe_scope: Vec::new(),
            binary,
            context,
        }],
    })
}

/// The program name a folder without `.conf` gives: its own name, without
/// the suffix bf-p4c appends to its default output folder.
fn program_name_of(dir: &Path) -> Result<String, Error> {
    let no_name = || Error::NoProgramName {
        dir: dir.to_path_buf(),
    };
    // A relative path such as `.` has no name of its own; its absolute form does.
    let absolute = std::path::absolute(dir).map_err(|_| no_name())?;
    let name = absolute
        .components()
        .next_back()
        .and_then(|c| match c {
            std::path::Component::Normal(n) => n.to_str(),
            _ => None,
        })
        .ok_or_else(no_name)?;
    let name = name
        .strip_suffix(".tofino2")
        .or_else(|| name.strip_suffix(".tofino"))
        .unwrap_or(name);
    if name.is_empty() {
        return Err(no_name());
    }
    Ok(name.to_string())
}

/// Reads one pipeline's chip image and `context.json` from `dir`.
fn read_pipeline_files(dir: &Path) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let present: Vec<PathBuf> = BINARY_NAMES
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect();
    let binary_path = match present.as_slice() {
        [] => {
            return Err(Error::MissingBinary {
                dir: dir.to_path_buf(),
            })
        }
        [one] => one,
        _ => {
            return Err(Error::TwoBinaries {
                dir: dir.to_path_buf(),
            })
        }
    };
    let binary = read_file(binary_path, "the chip image")?;
    let context = read_json_file(&dir.join("context.json"), "the pipeline's context.json")?;
    Ok((binary, context))
}

/// Reads a file that must exist and be non-empty.
fn read_file(path: &Path, expected: &'static str) -> Result<Vec<u8>, Error> {
    let bytes = fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing {
                path: path.to_path_buf(),
                expected,
            }
        } else {
            Error::Io {
                path: path.to_path_buf(),
                expected,
                source,
            }
        }
    })?;
    if bytes.is_empty() {
        return Err(Error::EmptyFile {
            path: path.to_path_buf(),
            expected,
        });
    }
    Ok(bytes)
}

/// Reads a file that must exist, be non-empty and parse as JSON.
fn read_json_file(path: &Path, expected: &'static str) -> Result<Vec<u8>, Error> {
    let bytes = read_file(path, expected)?;
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| Error::NotJson {
        path: path.to_path_buf(),
        expected,
        reason: e.to_string(),
    })?;
    Ok(bytes)
}

/// A short description of a JSON value for an error message.
fn describe(value: Option<&serde_json::Value>) -> String {
    match value {
        None => "nothing".to_string(),
        Some(serde_json::Value::Null) => "null".to_string(),
        Some(serde_json::Value::Bool(_)) => "a boolean".to_string(),
        Some(serde_json::Value::Number(n)) => format!("the number {n}"),
        Some(serde_json::Value::String(s)) => format!("the string {s:?}"),
        Some(serde_json::Value::Array(a)) => format!("an array of {}", a.len()),
        Some(serde_json::Value::Object(_)) => "an object".to_string(),
    }
}
