//! `vcd-sim`: the vCloud Director simulator as a program, for the demo and manual runs.
//!
//! ```text
//! vcd-sim [--seed FILE] [--listen 127.0.0.1:0] [--vcsim-url URL --vcsim-user U --vcsim-password P]
//!         [--user NAME@ORG:PASSWORD]... [--exit-on-stdin-eof=false]
//! ```
//!
//! Prints one JSON line, `{"url": "http://127.0.0.1:PORT", "port": PORT, "vimserver": HREF}`,
//! then serves until stdin reaches EOF (unless `--exit-on-stdin-eof=false`, for running in
//! the background from a shell) or until SIGTERM/SIGINT. Without `--seed` it uses the
//! built-in default seed (`tests/vcd-seed.toml`). The vcsim password may also come from
//! `VCD_SIM_VCSIM_PASSWORD`. Fault knobs are under `/odt-sim/` (see the library docs).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use odt_tests::vcdsim::{Seed, VcdOptions, VcdSim, VcsimLink};

const USAGE: &str = "usage: vcd-sim [--seed FILE] [--listen ADDR] [--vcsim-url URL --vcsim-user U \
                     --vcsim-password P] [--user NAME@ORG:PASSWORD]... [--exit-on-stdin-eof=false]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("vcd-sim: {msg}");
            ExitCode::from(code)
        }
    }
}

/// What the command line asks for.
struct Args {
    seed: Option<PathBuf>,
    listen: String,
    url: Option<String>,
    user: Option<String>,
    password: Option<String>,
    users: Vec<(String, String)>,
    stdin_eof: bool,
}

fn usage(m: String) -> (u8, String) {
    (2u8, format!("{m}\n{USAGE}"))
}

fn run() -> Result<(), (u8, String)> {
    let Some(args) = parse_args()? else {
        println!("{USAGE}");
        return Ok(());
    };
    let seed = match &args.seed {
        Some(p) => Seed::load(p).map_err(|e| (1, e))?,
        None => Seed::default_seed(),
    };
    let vcsim = vcsim_link(args.url, args.user, args.password)?;
    let mut opts = VcdOptions::new(seed);
    opts.vcsim = vcsim;
    opts.users = args.users;
    opts.listen = args.listen;
    let sim = VcdSim::start(opts).map_err(|e| (1, e))?;
    println!(
        "{}",
        serde_json::json!({
            "url": sim.url,
            "port": sim.port,
            "vimserver": sim.vimserver_href(),
        })
    );
    if args.stdin_eof {
        let _ = std::io::copy(
            &mut std::io::stdin().lock().take(u64::MAX),
            &mut std::io::sink(),
        );
        eprintln!("vcd-sim: stdin closed, stopping");
        sim.stop();
    } else {
        loop {
            std::thread::park();
        }
    }
    Ok(())
}

/// The arguments (`--key value` or `--key=value`); `None` for `--help`.
fn parse_args() -> Result<Option<Args>, (u8, String)> {
    let mut out = Args {
        seed: None,
        listen: "127.0.0.1:0".to_owned(),
        url: None,
        user: None,
        password: std::env::var("VCD_SIM_VCSIM_PASSWORD").ok(),
        users: vec![],
        stdin_eof: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, (u8, String)> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        match key.as_str() {
            "-h" | "--help" => return Ok(None),
            "--seed" => out.seed = Some(PathBuf::from(value("--seed")?)),
            "--listen" => out.listen = value("--listen")?,
            "--vcsim-url" => out.url = Some(value("--vcsim-url")?),
            "--vcsim-user" => out.user = Some(value("--vcsim-user")?),
            "--vcsim-password" => out.password = Some(value("--vcsim-password")?),
            "--user" => {
                let v = value("--user")?;
                let (who, pw) = v
                    .split_once(':')
                    .ok_or_else(|| usage(format!("--user {v:?}: give NAME@ORG:PASSWORD")))?;
                out.users.push((who.to_owned(), pw.to_owned()));
            }
            "--exit-on-stdin-eof" => {
                out.stdin_eof = match value("--exit-on-stdin-eof")?.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => {
                        return Err(usage(format!("--exit-on-stdin-eof={other}: true or false")))
                    }
                }
            }
            other => return Err(usage(format!("unknown argument {other:?}"))),
        }
    }
    Ok(Some(out))
}

/// The vcsim to import from: URL, user and password together, or only a URL (vcsim's
/// default credentials), or none.
fn vcsim_link(
    url: Option<String>,
    user: Option<String>,
    password: Option<String>,
) -> Result<Option<VcsimLink>, (u8, String)> {
    match (url, user, password) {
        (Some(url), Some(user), Some(password)) => Ok(Some(VcsimLink {
            url,
            user,
            password,
        })),
        (Some(url), None, None) => Ok(Some(VcsimLink {
            url,
            user: "user".into(),
            password: "pass".into(),
        })),
        (None, None, _) => Ok(None),
        _ => Err(usage(
            "--vcsim-url, --vcsim-user and --vcsim-password go together".into(),
        )),
    }
}
