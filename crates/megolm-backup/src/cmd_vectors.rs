//! `megolm-backup vectors`: run any mkb-vectors/1 files.

use std::{path::PathBuf, process::ExitCode};

use clap::Args;
use vector_runner::{Filter, run_paths};

use crate::fatal::Fatal;

#[derive(Debug, Args)]
pub(crate) struct VectorsArgs {
    /// Run only kinds starting with this prefix (repeatable), e.g. `recovery_key`.
    #[arg(long = "kind", value_name = "PREFIX")]
    kinds: Vec<String>,
    /// Vector files, or folders searched for *.json files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub(crate) fn run(args: VectorsArgs) -> Result<ExitCode, Fatal> {
    let filter = if args.kinds.is_empty() {
        Filter::all()
    } else {
        Filter::kinds(args.kinds)
    };
    let report = run_paths(&args.paths, &filter).map_err(Fatal::new)?;
    print!("{}", report.render_failures());
    println!("{}", report.summary());
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
