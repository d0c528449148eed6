//! `telescope-slo`: Prometheus rules, their `promtool test rules` tests and an Alertmanager
//! configuration from an SLO file (see `telescope::slo::SloFile` for its format).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use telescope::slo::{Rules, SloFile};

const USAGE: &str = "\
Usage: telescope-slo <slos.toml> <output directory> [--time-scale N]

Writes into the directory:
  rules.yml          recording rules and burn-rate alerts (promtool check rules rules.yml)
  tests.yml          their unit tests (promtool test rules tests.yml)
  alertmanager.yml   the routing, when the file has a [routing] table (amtool check-config)

--time-scale N divides every window by N, for trying the rules out quickly; not for production.
Exit status: 0 written, 1 a file could not be written, 2 bad arguments or a bad SLO file.";

/// What the command line asks for.
struct Arguments {
    file: PathBuf,
    directory: PathBuf,
    time_scale: u64,
}

fn arguments(args: &[String]) -> Result<Arguments, String> {
    let mut positional = Vec::new();
    let mut time_scale = 1;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--time-scale" => {
                time_scale = rest
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n >= 1)
                    .ok_or("--time-scale needs a whole number of at least 1")?;
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    match <[PathBuf; 2]>::try_from(positional) {
        Ok([file, directory]) => Ok(Arguments {
            file,
            directory,
            time_scale,
        }),
        Err(_) => Err("expected an SLO file and an output directory".to_owned()),
    }
}

fn write(directory: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = directory.join(name);
    std::fs::write(&path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let arguments = match arguments(&args) {
        Ok(arguments) => arguments,
        Err(message) => {
            eprintln!("telescope-slo: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let file = match SloFile::load(&arguments.file) {
        Ok(file) => file,
        Err(error) => {
            eprintln!("telescope-slo: {}: {error}", arguments.file.display());
            return ExitCode::from(2);
        }
    };
    let rules = Rules::new(&file.slos, &file.alerts).time_scale(arguments.time_scale);
    if let Err(error) = rules.check_buckets(|histogram| file.buckets_of(histogram)) {
        eprintln!("telescope-slo: {}: {error}", arguments.file.display());
        return ExitCode::from(2);
    }
    let written = std::fs::create_dir_all(&arguments.directory)
        .map_err(|error| format!("cannot create {}: {error}", arguments.directory.display()))
        .and_then(|()| write(&arguments.directory, "rules.yml", &rules.prometheus_rules()))
        .and_then(|()| {
            write(
                &arguments.directory,
                "tests.yml",
                &rules.promtool_tests("rules.yml"),
            )
        })
        .and_then(|()| match &file.routing {
            Some(routing) => write(
                &arguments.directory,
                "alertmanager.yml",
                &routing.alertmanager_config(),
            ),
            None => Ok(()),
        });
    match written {
        Ok(()) => {
            println!(
                "telescope-slo: {} SLOs, {} alerts written to {}",
                file.slos.len(),
                file.alerts.len(),
                arguments.directory.display()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("telescope-slo: {message}");
            ExitCode::FAILURE
        }
    }
}
