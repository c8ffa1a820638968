//! Tells the tests whether the CPU that builds them has AVX-512 IFMA and AVX2: the tests
//! of the lane ladders that need them are `#[ignore]`d with the reason where they are
//! absent, never passed by returning early (a test binary is run where it is built).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mkb_host_ifma)");
    println!("cargo::rustc-check-cfg=cfg(mkb_host_avx2)");
    println!("cargo::rerun-if-changed=build.rs");
    // MKB_NO_IFMA=1 (MKB_NO_AVX2=1) builds the tests as on a CPU without it (to see them
    // ignored).
    println!("cargo::rerun-if-env-changed=MKB_NO_IFMA");
    println!("cargo::rerun-if-env-changed=MKB_NO_AVX2");
    let pretend_absent = std::env::var_os("MKB_NO_IFMA").is_some();
    let pretend_no_avx2 = std::env::var_os("MKB_NO_AVX2").is_some();
    let target_is_x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "x86_64");
    #[cfg(target_arch = "x86_64")]
    if target_is_x86_64
        && !pretend_absent
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512ifma")
    {
        println!("cargo::rustc-cfg=mkb_host_ifma");
    }
    #[cfg(target_arch = "x86_64")]
    if target_is_x86_64 && !pretend_no_avx2 && std::is_x86_feature_detected!("avx2") {
        println!("cargo::rustc-cfg=mkb_host_avx2");
    }
    let _ = (target_is_x86_64, pretend_absent, pretend_no_avx2);
}
