//! The two device-config packings built from sample compiler output folders,
//! checked against byte sequences written from the formats' definitions, and
//! parsed back; and the refusals of missing files and of bad bytes.

// In a test, an unwrap that fails is the failure being reported.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use fairshare_tofino::{
    pack, pack_dir, unpack, Error, Packing, Pipeline, TofinoBuild, LEGACY_PIPELINE_NAME,
};
use proptest::prelude::*;

/// A folder under the system temporary folder, removed when dropped.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    /// A fresh folder; `leaf` is the name of the folder the test reads, so
    /// that its name can serve as the program name.
    fn new(leaf: &str) -> (Scratch, PathBuf) {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let root =
            std::env::temp_dir().join(format!("fairshare-tofino-test-{}-{n}", std::process::id()));
        let dir = root.join(leaf);
        std::fs::create_dir_all(&dir).expect("create the scratch folder");
        (Scratch { root }, dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create a parent folder");
    }
    std::fs::write(path, bytes).expect("write a sample file");
}

const BIN: &[u8] = &[0x54, 0x4f, 0x46, 0x00, 0xff, 0x01];
const CONTEXT: &[u8] = br#"{"program_name":"fairshare_tna","tables":[]}"#;
const BFRT: &[u8] = br#"{"schema_version":"1.0.0","tables":[]}"#;

/// A flat folder: chip image, context and schema side by side.
fn flat(dir: &Path) {
    write(&dir.join("tofino.bin"), BIN);
    write(&dir.join("context.json"), CONTEXT);
    write(&dir.join("bf-rt.json"), BFRT);
}

fn one_pipeline(name: &str, binary: &[u8], context: &[u8]) -> TofinoBuild {
    TofinoBuild {
        p4_name: name.to_string(),
        bfrt_info: None,
        pipelines: vec![Pipeline {
            name: "pipe".to_string(),
            pipe_scope: vec![],
            binary: binary.to_vec(),
            context: context.to_vec(),
        }],
    }
}

#[test]
fn legacy_bytes_follow_the_format() {
    let build = one_pipeline("np", &[0xAA, 0xBB, 0xCC], b"{}");
    // Each field: its length as a 32-bit little-endian integer, then its
    // bytes; name, chip image, context.json in that order.
    let expected: &[u8] = &[
        2, 0, 0, 0, b'n', b'p', // offset 0: the name
        3, 0, 0, 0, 0xAA, 0xBB, 0xCC, // offset 6: the chip image
        2, 0, 0, 0, b'{', b'}', // offset 13: context.json
    ];
    assert_eq!(pack(&build, Packing::Legacy).unwrap(), expected);
}

#[test]
fn legacy_lengths_are_little_endian() {
    // 300 = 0x012C and 65537 = 0x010001 show the byte order of the lengths.
    let binary = vec![0x5A; 300];
    let context_json = vec![b'c'; 65537];
    let build = one_pipeline("abc", &binary, &context_json);
    let bytes = pack(&build, Packing::Legacy).unwrap();
    assert_eq!(bytes.len(), 4 + 3 + 4 + 300 + 4 + 65537);
    assert_eq!(&bytes[0..4], &[3, 0, 0, 0]);
    assert_eq!(&bytes[4..7], b"abc");
    assert_eq!(&bytes[7..11], &[0x2C, 0x01, 0, 0]);
    assert_eq!(&bytes[11..311], &binary[..]);
    assert_eq!(&bytes[311..315], &[0x01, 0x00, 0x01, 0x00]);
    assert_eq!(&bytes[315..], &context_json[..]);
}

#[test]
fn bfrt_bytes_follow_the_field_numbers() {
    let mut build = one_pipeline("np", &[0xAA], b"{}");
    build.bfrt_info = Some(b"[]".to_vec());
    build.pipelines[0].pipe_scope = vec![0, 2];
    // Protobuf wire format: a tag byte is (field number << 3) | wire type,
    // with type 2 for length-delimited fields; proto3 packs repeated uint32s.
    let profile: &[u8] = &[
        0x0A, 4, b'p', b'i', b'p', b'e', // 1 profile_name
        0x12, 2, b'{', b'}', // 2 context
        0x1A, 1, 0xAA, // 3 binary
        0x22, 2, 0, 2, // 4 pipe_scope, packed
    ];
    let mut expected = vec![
        0x0A, 2, b'n', b'p', // 1 p4_name
        0x12, 2, b'[', b']', // 2 bfruntime_info
        0x1A, 17, // 3 profiles, one of 17 bytes
    ];
    expected.extend_from_slice(profile);
    assert_eq!(profile.len(), 17);
    assert_eq!(pack(&build, Packing::Bfrt).unwrap(), expected);
}

#[test]
fn flat_folder_packs_both_ways_and_parses_back() {
    let (_scratch, dir) = Scratch::new("fairshare_tna");
    flat(&dir);
    let build = TofinoBuild::read(&dir).unwrap();
    assert_eq!(build.p4_name, "fairshare_tna");
    assert_eq!(build.bfrt_info.as_deref(), Some(BFRT));
    assert_eq!(build.pipelines.len(), 1);
    assert_eq!(build.pipelines[0].name, LEGACY_PIPELINE_NAME);
    assert_eq!(build.pipelines[0].binary, BIN);
    assert_eq!(build.pipelines[0].context, CONTEXT);
    assert!(build.pipelines[0].pipe_scope.is_empty());

    let bfrt = pack(&build, Packing::Bfrt).unwrap();
    assert_eq!(unpack(&bfrt, Packing::Bfrt).unwrap(), build);
    assert_eq!(pack_dir(&dir, Packing::Bfrt).unwrap(), bfrt);

    let legacy = pack(&build, Packing::Legacy).unwrap();
    let back = unpack(&legacy, Packing::Legacy).unwrap();
    // The legacy form carries no schema; the rest comes back whole.
    assert_eq!(back.bfrt_info, None);
    assert_eq!(
        back,
        TofinoBuild {
            bfrt_info: None,
            ..build
        }
    );
}

#[test]
fn bf_p4c_folder_is_read_through_its_conf() {
    let (_scratch, dir) = Scratch::new("out");
    // The shape of the .conf bf-p4c writes; its paths point into an SDE
    // installation and are not followed.
    let conf = br#"{
        "chip_list": [{"chip_family": "tofino2", "instance": 0}],
        "p4_devices": [{
            "device-id": 0,
            "p4_programs": [{
                "program-name": "fairshare_tna",
                "bfrt-config": "share/tofino2pd/fairshare_tna/bf-rt.json",
                "p4_pipelines": [{
                    "p4_pipeline_name": "pipe",
                    "context": "share/tofino2pd/fairshare_tna/pipe/context.json",
                    "config": "share/tofino2pd/fairshare_tna/pipe/tofino2.bin",
                    "pipe_scope": [0, 1, 2, 3],
                    "path": "share/tofino2pd/fairshare_tna"
                }]
            }]
        }]
    }"#;
    write(&dir.join("fairshare_tna.conf"), conf);
    write(&dir.join("bf-rt.json"), BFRT);
    write(&dir.join("pipe/tofino2.bin"), BIN);
    write(&dir.join("pipe/context.json"), CONTEXT);

    let build = TofinoBuild::read(&dir).unwrap();
    assert_eq!(build.p4_name, "fairshare_tna");
    assert_eq!(
        build.pipelines,
        vec![Pipeline {
            name: "pipe".into(),
            pipe_scope: vec![0, 1, 2, 3],
            binary: BIN.to_vec(),
            context: CONTEXT.to_vec(),
        }]
    );
    let bytes = pack(&build, Packing::Bfrt).unwrap();
    assert_eq!(unpack(&bytes, Packing::Bfrt).unwrap(), build);
}

#[test]
fn conf_with_two_pipelines_packs_as_bfrt_only() {
    let (_scratch, dir) = Scratch::new("out");
    let conf = br#"{"p4_devices": [{"p4_programs": [{
        "program-name": "two",
        "p4_pipelines": [
            {"p4_pipeline_name": "ingress_side", "pipe_scope": [0, 2]},
            {"p4_pipeline_name": "egress_side", "pipe_scope": [1, 3]}
        ]}]}]}"#;
    write(&dir.join("two.conf"), conf);
    write(&dir.join("bfrt.json"), BFRT);
    for pipe in ["ingress_side", "egress_side"] {
        write(&dir.join(pipe).join("tofino.bin"), pipe.as_bytes());
        write(&dir.join(pipe).join("context.json"), CONTEXT);
    }
    let build = TofinoBuild::read(&dir).unwrap();
    let names: Vec<_> = build.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ingress_side", "egress_side"]);
    assert_eq!(build.pipelines[1].pipe_scope, [1, 3]);
    assert_eq!(build.pipelines[1].binary, b"egress_side");
    assert_eq!(build.bfrt_info.as_deref(), Some(BFRT));
    let bytes = pack(&build, Packing::Bfrt).unwrap();
    assert_eq!(unpack(&bytes, Packing::Bfrt).unwrap(), build);
    let err = pack(&build, Packing::Legacy).unwrap_err();
    assert!(matches!(err, Error::LegacyPipelines { found: 2 }), "{err}");
}

#[test]
fn pipe_subfolder_without_conf_names_the_program_after_the_folder() {
    let (_scratch, dir) = Scratch::new("fairshare_tna.tofino");
    write(&dir.join("bf-rt.json"), BFRT);
    write(&dir.join("pipe0/tofino.bin"), BIN);
    write(&dir.join("pipe0/context.json"), CONTEXT);
    let build = TofinoBuild::read(&dir).unwrap();
    assert_eq!(build.p4_name, "fairshare_tna");
    assert_eq!(build.pipelines[0].name, "pipe0");
    assert_eq!(build.pipelines[0].binary, BIN);
}

#[test]
fn missing_chip_image_is_refused() {
    let (_scratch, dir) = Scratch::new("p");
    flat(&dir);
    std::fs::remove_file(dir.join("tofino.bin")).unwrap();
    let err = TofinoBuild::read(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::MissingBinary { dir: d } if d == &dir),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("tofino.bin") && text.contains("tofino2.bin"),
        "{text}"
    );
    assert!(text.contains("found neither"), "{text}");
}

#[test]
fn two_chip_images_are_refused() {
    let (_scratch, dir) = Scratch::new("p");
    flat(&dir);
    write(&dir.join("tofino2.bin"), BIN);
    let err = TofinoBuild::read(&dir).unwrap_err();
    assert!(matches!(err, Error::TwoBinaries { .. }), "{err}");
}

#[test]
fn missing_context_is_refused() {
    let (_scratch, dir) = Scratch::new("p");
    flat(&dir);
    std::fs::remove_file(dir.join("context.json")).unwrap();
    let err = TofinoBuild::read(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::Missing { path, .. } if path == &dir.join("context.json")),
        "{err}"
    );
    assert!(err.to_string().contains("context.json"), "{err}");
}

#[test]
fn missing_schema_is_refused_by_bfrt_only() {
    let (_scratch, dir) = Scratch::new("p");
    flat(&dir);
    std::fs::remove_file(dir.join("bf-rt.json")).unwrap();
    let err = pack_dir(&dir, Packing::Bfrt).unwrap_err();
    assert!(
        matches!(&err, Error::Missing { path, .. } if path == &dir.join("bf-rt.json")),
        "{err}"
    );
    let build = TofinoBuild::read(&dir).unwrap();
    assert!(matches!(
        pack(&build, Packing::Bfrt),
        Err(Error::NoBfrtInfo)
    ));
    // The legacy form does not carry the schema, so it does not need it.
    let legacy = pack_dir(&dir, Packing::Legacy).unwrap();
    assert_eq!(unpack(&legacy, Packing::Legacy).unwrap(), build);
}

#[test]
fn empty_and_non_json_files_are_refused() {
    let (_scratch, dir) = Scratch::new("p");
    flat(&dir);
    write(&dir.join("tofino.bin"), b"");
    let err = TofinoBuild::read(&dir).unwrap_err();
    assert!(matches!(err, Error::EmptyFile { .. }), "{err}");

    write(&dir.join("tofino.bin"), BIN);
    write(&dir.join("context.json"), b"{not json");
    let err = TofinoBuild::read(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::NotJson { path, .. } if path == &dir.join("context.json")),
        "{err}"
    );
}

#[test]
fn folder_that_does_not_exist_or_is_a_file_is_refused() {
    let (_scratch, dir) = Scratch::new("p");
    let err = TofinoBuild::read(dir.join("absent")).unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err}");
    write(&dir.join("file"), b"x");
    let err = TofinoBuild::read(dir.join("file")).unwrap_err();
    assert!(matches!(err, Error::NotAFolder { .. }), "{err}");
}

#[test]
fn bad_conf_is_refused_with_what_was_expected() {
    let (_scratch, dir) = Scratch::new("p");
    flat(&dir);
    write(
        &dir.join("p.conf"),
        br#"{"p4_devices": [{"p4_programs": [{"program-name": 7}]}]}"#,
    );
    let err = TofinoBuild::read(&dir).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("program-name") && text.contains("the number 7"),
        "{text}"
    );

    write(
        &dir.join("p.conf"),
        br#"{"p4_devices": [{"p4_programs": [{"program-name": "p",
            "p4_pipelines": [{"p4_pipeline_name": "../up"}]}]}]}"#,
    );
    let err = TofinoBuild::read(&dir).unwrap_err();
    assert!(matches!(err, Error::BadConf { .. }), "{err}");

    write(&dir.join("q.conf"), b"{}");
    let err = TofinoBuild::read(&dir).unwrap_err();
    assert!(matches!(err, Error::SeveralConfs { .. }), "{err}");
}

#[test]
fn legacy_length_past_the_end_is_refused() {
    // The name claims 100 bytes and 3 follow.
    let bytes = [100, 0, 0, 0, b'a', b'b', b'c'];
    let err = unpack(&bytes, Packing::Legacy).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                offset: 4,
                needed: 100,
                available: 3,
                ..
            }
        ),
        "{err}"
    );
    // A length cut short: the chip image's length has 2 of its 4 bytes.
    let bytes = [1, 0, 0, 0, b'a', 9, 0];
    let err = unpack(&bytes, Packing::Legacy).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                offset: 5,
                needed: 4,
                available: 2,
                ..
            }
        ),
        "{err}"
    );
    // The largest length the prefix can hold.
    let bytes = [1, 0, 0, 0, b'a', 0xff, 0xff, 0xff, 0xff, 0];
    let err = unpack(&bytes, Packing::Legacy).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                offset: 9,
                needed: 0xffff_ffff,
                available: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn legacy_bytes_after_the_context_are_refused() {
    let mut bytes = pack(&one_pipeline("n", &[1], b"0"), Packing::Legacy).unwrap();
    let end = bytes.len();
    bytes.push(0);
    let err = unpack(&bytes, Packing::Legacy).unwrap_err();
    assert!(
        matches!(err, Error::TrailingBytes { offset, count: 1 } if offset == end),
        "{err}"
    );
}

#[test]
fn empty_fields_are_refused_both_ways() {
    // A legacy config whose chip image is empty.
    let bytes = [1, 0, 0, 0, b'n', 0, 0, 0, 0, 1, 0, 0, 0, b'0'];
    let err = unpack(&bytes, Packing::Legacy).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let err = pack(&one_pipeline("", &[1], b"0"), Packing::Legacy).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    // An empty message decodes, but names no program.
    let err = unpack(&[], Packing::Bfrt).unwrap_err();
    assert!(matches!(err, Error::NoBfrtInfo), "{err}");
}

#[test]
fn bfrt_bytes_that_do_not_decode_are_refused() {
    // Field 1 announced as 10 bytes long with 1 present.
    let err = unpack(&[0x0A, 10, b'x'], Packing::Bfrt).unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err}");
}

#[test]
fn packing_names() {
    assert_eq!("bfrt".parse::<Packing>().unwrap(), Packing::Bfrt);
    assert_eq!("legacy".parse::<Packing>().unwrap(), Packing::Legacy);
    assert_eq!(Packing::Legacy.to_string(), "legacy");
    let err = "pi".parse::<Packing>().unwrap_err();
    assert!(err.to_string().contains("`pi`"), "{err}");
}

fn arb_pipeline() -> impl Strategy<Value = Pipeline> {
    (
        "[a-z_]{1,8}",
        prop::collection::vec(0u32..4, 0..4),
        prop::collection::vec(any::<u8>(), 1..64),
        prop::collection::vec(any::<u8>(), 1..64),
    )
        .prop_map(|(name, pipe_scope, binary, context)| Pipeline {
            name,
            pipe_scope,
            binary,
            context,
        })
}

fn arb_build() -> impl Strategy<Value = TofinoBuild> {
    (
        "[a-z_]{1,12}",
        prop::collection::vec(any::<u8>(), 1..64),
        prop::collection::vec(arb_pipeline(), 1..3),
    )
        .prop_map(|(p4_name, bfrt, pipelines)| TofinoBuild {
            p4_name,
            bfrt_info: Some(bfrt),
            pipelines,
        })
}

proptest! {
    #[test]
    fn unpack_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = unpack(&bytes, Packing::Bfrt);
        let _ = unpack(&bytes, Packing::Legacy);
    }

    #[test]
    fn unpack_never_panics_on_damaged_configs(
        build in arb_build(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut one = build.clone();
        one.pipelines.truncate(1);
        for (b, packing) in [(&build, Packing::Bfrt), (&one, Packing::Legacy)] {
            let mut bytes = pack(b, packing).unwrap();
            let at = flip.index(bytes.len());
            bytes[at] ^= 0x80;
            let _ = unpack(&bytes, packing);
            bytes.truncate(cut.index(bytes.len()));
            let _ = unpack(&bytes, packing);
        }
    }

    #[test]
    fn every_build_round_trips(build in arb_build()) {
        let bytes = pack(&build, Packing::Bfrt).unwrap();
        prop_assert_eq!(unpack(&bytes, Packing::Bfrt).unwrap(), build.clone());
        let mut one = build;
        one.pipelines.truncate(1);
        let bytes = pack(&one, Packing::Legacy).unwrap();
        let back = unpack(&bytes, Packing::Legacy).unwrap();
        prop_assert_eq!(&back.p4_name, &one.p4_name);
        prop_assert_eq!(&back.pipelines[0].binary, &one.pipelines[0].binary);
        prop_assert_eq!(&back.pipelines[0].context, &one.pipelines[0].context);
        prop_assert_eq!(back.bfrt_info, None);
    }
}
