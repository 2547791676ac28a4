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

fn run() -> Result<(), (u8, String)> {
    let usage = |m: String| (2u8, format!("{m}\n{USAGE}"));
    let mut seed: Option<PathBuf> = None;
    let mut listen = "127.0.0.1:0".to_owned();
    let (mut url, mut user, mut password) =
        (None, None, std::env::var("VCD_SIM_VCSIM_PASSWORD").ok());
    let mut users = vec![];
    let mut stdin_eof = true;
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
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--seed" => seed = Some(PathBuf::from(value("--seed")?)),
            "--listen" => listen = value("--listen")?,
            "--vcsim-url" => url = Some(value("--vcsim-url")?),
            "--vcsim-user" => user = Some(value("--vcsim-user")?),
            "--vcsim-password" => password = Some(value("--vcsim-password")?),
            "--user" => {
                let v = value("--user")?;
                let (who, pw) = v
                    .split_once(':')
                    .ok_or_else(|| usage(format!("--user {v:?}: give NAME@ORG:PASSWORD")))?;
                users.push((who.to_owned(), pw.to_owned()));
            }
            "--exit-on-stdin-eof" => {
                stdin_eof = match value("--exit-on-stdin-eof")?.as_str() {
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
    let seed = match &seed {
        Some(p) => Seed::load(p).map_err(|e| (1, e))?,
        None => Seed::default_seed(),
    };
    let vcsim = match (url, user, password) {
        (Some(url), Some(user), Some(password)) => Some(VcsimLink {
            url,
            user,
            password,
        }),
        (Some(url), None, None) => Some(VcsimLink {
            url,
            user: "user".into(),
            password: "pass".into(),
        }),
        (None, None, _) => None,
        _ => {
            return Err(usage(
                "--vcsim-url, --vcsim-user and --vcsim-password go together".into(),
            ))
        }
    };
    let mut opts = VcdOptions::new(seed);
    opts.vcsim = vcsim;
    opts.users = users;
    opts.listen = listen;
    let sim = VcdSim::start(opts).map_err(|e| (1, e))?;
    println!(
        "{}",
        serde_json::json!({
            "url": sim.url,
            "port": sim.port,
            "vimserver": sim.vimserver_href(),
        })
    );
    if stdin_eof {
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
