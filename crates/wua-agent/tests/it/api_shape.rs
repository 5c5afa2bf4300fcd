//! D-43: the API's shape. Libraries log only through `tracing`: they never print and never
//! install a panic hook. Checked over the library crates' sources.

#[test]
fn d43_libraries_never_print_or_hook_panics() {
    let crates = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let libraries = ["wua-types", "wua-package", "wua-store", "wua-install", "wua-agent"];
    let forbidden =
        ["println!", "eprintln!", "print!(", "eprint!(", "dbg!(", "set_hook", "std::io::stdout", "std::io::stderr"];
    for lib in libraries {
        for entry in walkdir::WalkDir::new(format!("{crates}/{lib}/src")) {
            let entry = entry.unwrap();
            if entry.path().extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                for f in forbidden {
                    assert!(!text.contains(f), "{} uses {f}", entry.path().display());
                }
            }
        }
    }
}
