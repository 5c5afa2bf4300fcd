//! The standalone package reader never panics on any file, and a refused package leaves
//! nothing behind in the staging directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("p.wuapkg");
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).expect("staging");
    std::fs::write(&file, data).expect("write");
    if wua_package::open_package(&file, &staging, &|_| false, &wua_package::OpenLimits::default()).is_err() {
        let left = std::fs::read_dir(&staging).expect("read staging").count();
        assert_eq!(left, 0, "a refused package left files behind");
    }
});
