//! Parsing and checking never panic, whatever the input.

fn example(name: &str) -> String {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Loads and renders; returns whether loading failed.
fn load_and_render(src: &str) -> bool {
    match fairshare_policy::load(src) {
        Ok(_) => false,
        Err(d) => {
            let text = fairshare_policy::render(&d, "t.fsp", src);
            assert!(
                text.contains("error"),
                "rendered diagnostics name the error:\n{text}"
            );
            true
        }
    }
}

#[test]
fn every_truncation_of_metro_is_rejected_without_panic() {
    let src = example("metro.fsp");
    let complete = src.trim_end();
    for end in 0..src.len() {
        if !src.is_char_boundary(end) {
            continue;
        }
        let cut = &src[..end];
        if cut.trim_end() == complete {
            // Only trailing whitespace is missing: still the whole policy.
            assert!(!load_and_render(cut));
        } else {
            let diags = fairshare_policy::load(cut)
                .err()
                .unwrap_or_else(|| panic!("truncation at {end} loaded"));
            assert_eq!(diags.len(), 1, "a syntax error stops at the first");
            assert_eq!(
                diags[0].kind,
                fairshare_policy::Kind::Syntax,
                "truncation at {end}"
            );
            fairshare_policy::render(&diags, "metro.fsp", cut);
        }
    }
}

#[test]
fn deleting_any_one_byte_of_single_does_not_panic() {
    let src = example("single.fsp");
    for at in 0..src.len() {
        let mut bytes = src.clone().into_bytes();
        bytes.remove(at);
        let text = String::from_utf8_lossy(&bytes);
        load_and_render(&text);
    }
}

#[test]
fn garbage_is_rejected_without_panic() {
    let long_name = format!("network \"{}\" {{", "a".repeat(100_000));
    let deep = "{".repeat(10_000);
    let cases = [
        "",
        " ",
        "#",
        "# only a comment\n",
        "network",
        "network \"",
        "network \"x\"",
        "network \"x\" {",
        "}}}}",
        "\u{0}\u{1F600}é",
        "network \"é\" { datacenter ü { } }",
        "network \"x\" { datacenter",
        "network \"x\" { link a <-> b {",
        "network \"x\" { edge e { clients 1.2.3.4/99999999999999999999 } }",
        "network \"x\" { recalc every 99999999999999999999999999999999999999999999s }",
        "network \"x\" { weights { subscribers 99999999999999999999999999999999999999999999999999.9 } }",
        "network \"x\" { datacenter d { switch s { cpu-port 99999999999999999999999 device-id 1 } } }",
        "network \"x\" { service s { vip 999999999999.1.1.1 tcp/0 at d } }",
        "network \"x\" {} network \"y\" {}",
        &long_name,
        &deep,
    ];
    for case in cases {
        assert!(load_and_render(case), "garbage accepted: {case:.60}");
    }
}

#[test]
fn an_empty_network_is_reported_not_accepted() {
    let src = "network \"empty\" { }";
    let diags = fairshare_policy::load(src).expect_err("an empty network is invalid");
    let kinds: Vec<_> = diags.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            fairshare_policy::Kind::MissingProperty,
            fairshare_policy::Kind::MissingProperty
        ]
    );
}
