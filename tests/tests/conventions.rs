//! The conventions users of other tools expect (issue 13, item 7), run on the built binaries:
//! shell completions that parse and know every command, man pages that are valid roff, the
//! install script, and an ENVIRONMENT list in `--help` and the man page that names every
//! `ODT_*` variable the source reads (so a new variable without documentation fails here).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use odt_tests::{bin, text, workspace};

const PROGRAMS: [&str; 2] = ["odt-export", "odt-import"];

fn run(program: &str, args: &[&str]) -> Output {
    let o = Command::new(bin(program))
        .args(args)
        .env_remove("ODT_CONFIG")
        .output()
        .expect("spawn");
    assert!(
        o.status.success(),
        "{program} {args:?} failed ({:?}):\n{}",
        o.status,
        text(&o.stderr)
    );
    o
}

/// The commands `--help` lists (the lines under "Commands:"), `help` left out.
fn commands(program: &str) -> Vec<String> {
    let help = text(&run(program, &["--help"]).stdout);
    let list: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command's line starts two spaces in; its wrapped description further in.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(
        list.len() >= 5,
        "{program}: no command list in --help:\n{help}"
    );
    list
}

#[test]
fn bash_completions_parse_and_name_every_command() {
    for p in PROGRAMS {
        let script = run(p, &["completions", "bash"]).stdout;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join(p);
        std::fs::write(&f, &script).unwrap();
        let check = Command::new("bash").arg("-n").arg(&f).output().unwrap();
        assert!(check.status.success(), "bash -n: {}", text(&check.stderr));
        let script = text(&script);
        for c in commands(p) {
            assert!(script.contains(&c), "{p}: bash completion lacks {c}");
        }
        // It completes flags too: the short ones of this item among them.
        assert!(
            script.contains("--log-file") && script.contains("-v"),
            "{p}"
        );
    }
}

#[test]
fn every_shell_gets_a_script_and_a_wrong_one_is_a_usage_error() {
    for p in PROGRAMS {
        for shell in ["zsh", "fish", "elvish", "powershell"] {
            let s = text(&run(p, &["completions", shell]).stdout);
            assert!(s.contains(p) && s.contains("inspect"), "{p} {shell}:\n{s}");
        }
        let o = Command::new(bin(p))
            .args(["completions", "tcsh"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains("bash"), "{}", text(&o.stderr));
    }
}

/// Renders a page with groff's man macros and every warning on; returns the warnings.
fn groff_warnings(page: &Path) -> Option<String> {
    let o = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .ok()?;
    assert!(o.status.success(), "groff {page:?}: {}", text(&o.stderr));
    Some(text(&o.stderr))
}

#[test]
fn man_pages_are_one_per_command_and_valid_roff() {
    for p in PROGRAMS {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("man1");
        let listed = text(&run(p, &["man", dir.to_str().unwrap()]).stdout);
        let mut want: BTreeSet<String> = commands(p).iter().map(|c| format!("{p}-{c}.1")).collect();
        want.insert(format!("{p}.1"));
        let got: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, want);
        assert_eq!(listed.lines().count(), want.len(), "{listed}");
        for name in &got {
            let page = dir.join(name);
            let roff = std::fs::read_to_string(&page).unwrap();
            let title = name.trim_end_matches(".1");
            assert!(
                roff.contains(&format!("\n.TH {title} 1 ")),
                "{name} has no .TH header:\n{roff}"
            );
            for section in ["NAME", "SYNOPSIS", "DESCRIPTION"] {
                assert!(
                    roff.contains(&format!(".SH {section}\n")),
                    "{name}: {section}"
                );
            }
            match groff_warnings(&page) {
                Some(w) => assert!(w.trim().is_empty(), "{name}: groff warns:\n{w}"),
                None => eprintln!("groff is not installed: {name} checked for its sections only"),
            }
        }
        let top = std::fs::read_to_string(dir.join(format!("{p}.1"))).unwrap();
        assert!(
            top.contains(".SH ENVIRONMENT\n"),
            "{p}.1 has no ENVIRONMENT"
        );
        assert!(top.contains(".SH SUBCOMMANDS\n"), "{p}.1");
        let run_page = std::fs::read_to_string(dir.join(format!("{p}-run.1"))).unwrap();
        assert!(run_page.contains("\\-\\-nas"), "{p}-run.1 lacks --nas");
    }
}

#[test]
fn the_man_page_renders_for_man() {
    let Ok(o) = Command::new("man").arg("--version").output() else {
        eprintln!("man is not installed: the roff checks above stand");
        return;
    };
    if !o.status.success() {
        eprintln!("man does not run here: the roff checks above stand");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    run("odt-import", &["man", d.path().to_str().unwrap()]);
    let o = Command::new("man")
        .arg("-l")
        .arg(d.path().join("odt-import-plan.1"))
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(o.status.success(), "man -l: {}", text(&o.stderr));
    let page = text(&o.stdout);
    assert!(
        page.contains("--vcenter") && page.contains("SEE ALSO"),
        "{page}"
    );
}

#[test]
fn every_script_the_readme_runs_is_executable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = workspace().join("scripts");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "sh") {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert!(
                mode & 0o111 != 0,
                "{path:?} is not executable (mode {mode:o})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} scripts in {dir:?}");
}

#[test]
fn the_install_script_installs_every_file_under_the_prefix() {
    let d = tempfile::tempdir().unwrap();
    let prefix = d.path().join("usr");
    let bin_dir = bin("odt-import").parent().unwrap().to_owned();
    let script = workspace().join("scripts/install-completions.sh");
    // Run as the README runs it (so a script that lost its mode fails here).
    let o = Command::new(&script)
        .args(["--prefix", prefix.to_str().unwrap()])
        .args(["--bin-dir", bin_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let printed: BTreeSet<String> = text(&o.stdout).lines().map(str::to_owned).collect();
    let share = prefix.join("share");
    let mut want = BTreeSet::new();
    for p in PROGRAMS {
        want.insert(share.join("bash-completion/completions").join(p));
        want.insert(share.join("zsh/site-functions").join(format!("_{p}")));
        want.insert(
            share
                .join("fish/vendor_completions.d")
                .join(format!("{p}.fish")),
        );
        want.insert(share.join("man/man1").join(format!("{p}.1")));
        for c in commands(p) {
            want.insert(share.join("man/man1").join(format!("{p}-{c}.1")));
        }
    }
    for f in &want {
        let meta = std::fs::metadata(f).unwrap_or_else(|e| panic!("{f:?} not installed: {e}"));
        assert!(meta.len() > 0, "{f:?} is empty");
        assert!(printed.contains(f.to_str().unwrap()), "{f:?} not printed");
    }
    assert_eq!(printed.len(), want.len(), "{printed:?}");
    // Nothing else, and no temporary file left behind.
    let mut all = 0;
    for sub in [
        "bash-completion/completions",
        "zsh/site-functions",
        "fish/vendor_completions.d",
        "man/man1",
    ] {
        all += std::fs::read_dir(share.join(sub)).unwrap().count();
    }
    assert_eq!(all, want.len());

    let help = Command::new("bash")
        .arg(&script)
        .arg("-h")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(
        text(&help.stdout).contains("--prefix DIR"),
        "{}",
        text(&help.stdout)
    );
    let bad = Command::new("bash")
        .arg(&script)
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let none = Command::new("bash")
        .arg(&script)
        .args(["--prefix", prefix.to_str().unwrap(), "--bin-dir"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1), "{}", text(&none.stderr));
    assert!(
        text(&none.stderr).contains("odt-export"),
        "{}",
        text(&none.stderr)
    );
}

/// Every whole string literal `"ODT_…"` in the `.rs` files under `dir`, with the file it is in.
fn env_literals(dir: &Path, found: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            env_literals(&path, found);
            continue;
        }
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        // Unit tests' made-up names are not variables the program reads.
        let src = src.split("#[cfg(test)]").next().unwrap();
        for (at, _) in src.match_indices("\"ODT_") {
            let name: String = src[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            if src[at + 1 + name.len()..].starts_with('"') {
                found.push((name, path.display().to_string()));
            }
        }
    }
}

/// Which programs read the variables found in `file`: a binary's own source is that binary's;
/// an odt-cli module is read by the binaries that use it (`odt_cli::MODULE`); the libraries
/// below it by both.
fn readers(file: &str) -> Vec<&'static str> {
    let ws = workspace();
    let uses = |program: &str, module: &str| {
        let mut found = false;
        let mut stack = vec![ws.join(program).join("src")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if std::fs::read_to_string(&p)
                    .unwrap()
                    .contains(&format!("odt_cli::{module}"))
                {
                    found = true;
                }
            }
        }
        found
    };
    let rel = file.strip_prefix(ws.to_str().unwrap()).unwrap();
    if let Some(p) = PROGRAMS.iter().find(|p| rel.starts_with(&format!("/{p}/"))) {
        return vec![p];
    }
    if let Some(m) = rel.strip_prefix("/odt-format/cli/src/") {
        let module = m.trim_end_matches(".rs");
        // Modules every command goes through (the log, secrets, the shared commands).
        if ["log", "program", "secret", "lib", "endpoint"].contains(&module) {
            return PROGRAMS.to_vec();
        }
        return PROGRAMS.into_iter().filter(|p| uses(p, module)).collect();
    }
    PROGRAMS.to_vec()
}

#[test]
fn every_odt_variable_the_source_reads_is_in_the_help_and_man_page_of_its_reader() {
    let ws = workspace();
    let mut found = vec![];
    for dir in [
        "odt-export/src",
        "odt-import/src",
        "odt-format/cli/src",
        "odt-format/vmware/src",
        "odt-format/src",
    ] {
        env_literals(&ws.join(dir), &mut found);
    }
    let names: BTreeSet<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    // The scan itself works: it finds the variables known to be read.
    for known in [
        "ODT_PASSPHRASE",
        "ODT_LOG",
        "ODT_VCENTER_USER",
        "ODT_VCENTER_PASSWORD",
        "ODT_VCD_USER",
        "ODT_VCD_PASSWORD",
        "ODT_STATE_DIR",
        "ODT_CONFIG",
    ] {
        assert!(names.contains(known), "the scan missed {known}: {names:?}");
    }
    for p in PROGRAMS {
        let help = text(&run(p, &["--help"]).stdout);
        let env_block = help
            .split_once("\nEnvironment:\n")
            .unwrap_or_else(|| panic!("{p} --help has no Environment section:\n{help}"))
            .1;
        let short = text(&run(p, &["-h"]).stdout);
        let d = tempfile::tempdir().unwrap();
        run(p, &["man", d.path().to_str().unwrap()]);
        let man = std::fs::read_to_string(d.path().join(format!("{p}.1"))).unwrap();
        let man_env = man.split_once(".SH ENVIRONMENT\n").unwrap().1;
        let man_env = man_env.split("\n.SH ").next().unwrap();
        for (name, file) in &found {
            if !readers(file).contains(&p) {
                continue;
            }
            let entry = format!("  {name} ");
            assert!(
                env_block
                    .lines()
                    .any(|l| l.starts_with(&entry) || l == entry.trim_end()),
                "{p} reads {name} ({file}) but its --help Environment list lacks it:\n{env_block}"
            );
            assert!(short.contains(name), "{p} -h lacks {name}");
            assert!(
                man_env.contains(&format!("\\fB{name}\\fR")),
                "{p}.1 ENVIRONMENT lacks {name}:\n{man_env}"
            );
        }
    }
    // odt-export reads no vCD or config variable, and does not claim to.
    let export_help = text(&run("odt-export", &["--help"]).stdout);
    assert!(!export_help.contains("ODT_VCD_USER") && !export_help.contains("ODT_CONFIG"));
}

#[test]
fn short_flags_work_as_their_long_forms() {
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("k");
    run("odt-export", &["keygen", "-o", key.to_str().unwrap()]);
    assert!(key.exists() && d.path().join("k.pub").exists());
    let pkey = d.path().join("p");
    run("odt-import", &["keygen", "-o", pkey.to_str().unwrap()]);
    assert!(pkey.exists());
    for (p, sub, flags) in [
        (
            "odt-export",
            "run",
            &["-r, --recipient", "-k, --insecure"][..],
        ),
        ("odt-export", "verify", &["-i, --identity"][..]),
        (
            "odt-import",
            "run",
            &["-i, --identity", "-k, --insecure"][..],
        ),
        ("odt-import", "verify", &["-i, --identity"][..]),
        (
            "odt-import",
            "plan",
            &["-k, --insecure", "-v, --verbose"][..],
        ),
    ] {
        let h = text(&run(p, &[sub, "--help"]).stdout);
        for f in flags {
            assert!(h.contains(f), "{p} {sub} --help lacks {f}");
        }
    }
    // -v turns the log on (to stderr, info) without ODT_LOG.
    let o = Command::new(bin("odt-import"))
        .args(["-v", "inspect", "--nas"])
        .arg(d.path().join("no-nas"))
        .env_remove("ODT_LOG")
        .env_remove("ODT_CONFIG")
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(err.contains("INFO") && err.contains("started"), "{err}");
    let o = Command::new(bin("odt-import"))
        .args(["inspect", "--nas"])
        .arg(d.path().join("no-nas"))
        .env_remove("ODT_LOG")
        .env_remove("ODT_CONFIG")
        .output()
        .unwrap();
    assert!(!text(&o.stderr).contains("INFO"), "quiet by default");
}
