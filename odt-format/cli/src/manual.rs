//! The manual, generated from the clap definitions so it cannot drift from the program: shell
//! completions (`completions SHELL`, clap_complete) and one man page per command (`man DIR`,
//! clap_mangen), and the ENVIRONMENT section both the top-level `--help` and the man page show.
//! Both binaries offer the same two commands; each passes its own clap `Command` and its list
//! of environment variables.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use roff::{bold, roman, Roff};

/// One environment variable a program reads, as its `--help` and man page describe it.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// Its name, e.g. `ODT_PASSPHRASE`.
    pub name: &'static str,
    /// What it holds and what it stands in for, in one or two sentences.
    pub help: &'static str,
}

/// Width of the name column in `--help`'s environment list.
const NAME_COLUMN: usize = 22;
/// Width the descriptions are wrapped to in `--help` (clap's own help wraps at the terminal).
const HELP_WIDTH: usize = 92;

/// The `Environment:` block of a top-level `--help` (clap's `after_help`): each variable the
/// program reads, with what it holds, in a fixed layout (the trycmd cases pin it).
pub fn environment_help(vars: &[EnvVar]) -> String {
    let mut s = String::from("Environment:\n");
    for v in vars {
        let lines = wrap(v.help, HELP_WIDTH - NAME_COLUMN - 2);
        // A name too long for its column gets a line of its own, the help below it.
        let own_line = v.name.len() + 2 > NAME_COLUMN;
        if own_line {
            s.push_str(&format!("  {}\n", v.name));
        }
        for (i, l) in lines.iter().enumerate() {
            let name = if i == 0 && !own_line { v.name } else { "" };
            s.push_str(format!("  {name:<NAME_COLUMN$}{l}").trim_end());
            s.push('\n');
        }
    }
    s.trim_end().to_owned()
}

/// Greedy word wrap of `text` at `width` columns (a word longer than that stays whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![];
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `completions` options.
#[derive(Debug, Args)]
pub struct CompletionsOptions {
    /// The shell to complete for. Install the output where the shell looks (or run
    /// scripts/install-completions.sh): bash
    /// share/bash-completion/completions/PROGRAM, zsh share/zsh/site-functions/_PROGRAM,
    /// fish share/fish/vendor_completions.d/PROGRAM.fish.
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: clap_complete::Shell,
}

/// `man` options.
#[derive(Debug, Args)]
pub struct ManOptions {
    /// Folder to write the pages into (made if missing; pages there are replaced): PROGRAM.1
    /// and one PROGRAM-COMMAND.1 per command.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Why the manual could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {cause}; give a folder you can write to")]
pub struct ManualError {
    /// The file or folder.
    pub path: PathBuf,
    /// Why, shown in the message (so not also a `source()`).
    pub cause: std::io::Error,
}

/// Prints the completion script of `cmd` for `shell` on stdout.
pub fn completions(mut cmd: clap::Command, o: &CompletionsOptions) -> Result<(), ManualError> {
    let name = cmd.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(o.shell, &mut cmd, &name, &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|_| out.flush())
        .map_err(|cause| ManualError {
            path: "stdout".into(),
            cause,
        })
}

/// Writes one man page per command of `cmd` into `o.dir` (the program's own page has the
/// ENVIRONMENT section of `vars`) and prints each path written.
pub fn man(cmd: clap::Command, vars: &[EnvVar], o: &ManOptions) -> Result<(), ManualError> {
    let written = man_pages(cmd, vars, &o.dir)?;
    for p in &written {
        println!("{}", odt_format::text::printable(&p.display().to_string()));
    }
    Ok(())
}

/// The pages of [`man`]: renders and writes them, returning their paths (program first).
pub fn man_pages(
    cmd: clap::Command,
    vars: &[EnvVar],
    dir: &Path,
) -> Result<Vec<PathBuf>, ManualError> {
    let at = |path: &Path| {
        let path = path.to_owned();
        move |cause| ManualError { path, cause }
    };
    std::fs::create_dir_all(dir).map_err(at(dir))?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let program = cmd.get_name().to_owned();
    let mut pages = vec![(cmd.clone(), vars)];
    pages.extend(
        cmd.get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| (s.clone(), &[][..])),
    );
    let mut written = vec![];
    for (page, vars) in pages {
        let mut text = Vec::new();
        render(&page, vars, &program, &mut text).map_err(at(dir))?;
        let text = once_preamble(&text);
        let path = dir.join(clap_mangen::Man::new(page).get_filename());
        std::fs::write(&path, &text).map_err(at(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// Each roff writer starts with the same two-line preamble (the `Aq` string): a page made of
/// several sections keeps only the first.
fn once_preamble(page: &[u8]) -> Vec<u8> {
    const PREAMBLE: [&str; 2] = [".ie \\n(.g .ds Aq \\(aq", ".el .ds Aq '"];
    let text = String::from_utf8_lossy(page);
    let mut seen = [false; 2];
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if let Some(i) = PREAMBLE.iter().position(|p| *p == line) {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

/// One page: clap_mangen's sections, with the description's indented lines (examples) kept as
/// typed, then ENVIRONMENT and, for a command's page, SEE ALSO the program's page.
fn render(
    cmd: &clap::Command,
    vars: &[EnvVar],
    program: &str,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    let mut roff = Roff::default();
    description(&mut roff, cmd);
    roff.to_writer(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(w)?;
    }
    let mut roff = Roff::default();
    if !vars.is_empty() {
        roff.control("SH", ["ENVIRONMENT"]);
        for v in vars {
            roff.control("TP", [])
                .text([bold(v.name)])
                .text([roman(v.help)]);
        }
    }
    if cmd.get_name() != program {
        roff.control("SH", ["SEE ALSO"])
            .text([bold(program), roman("(1)")]);
    }
    roff.to_writer(w)?;
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

/// DESCRIPTION from the command's long about: a blank line starts a paragraph, and indented
/// lines (the example command lines) are set as typed, not filled into prose.
fn description(roff: &mut Roff, cmd: &clap::Command) {
    roff.control("SH", ["DESCRIPTION"]);
    let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) else {
        return;
    };
    let mut verbatim = false;
    for line in about.to_string().lines() {
        let indented = line.starts_with(' ');
        if indented != verbatim {
            roff.control(if indented { "nf" } else { "fi" }, []);
            verbatim = indented;
        }
        if line.trim().is_empty() {
            roff.control("PP", []);
        } else {
            roff.text([roman(line)]);
        }
    }
    if verbatim {
        roff.control("fi", []);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: &[EnvVar] = &[
        EnvVar {
            name: "TEST_ONE",
            help: "the first variable, described at enough length that it has to be wrapped \
                   onto a second line of the help",
        },
        EnvVar {
            name: "TEST_TWO",
            help: "short",
        },
    ];

    #[test]
    fn environment_help_wraps_under_its_column() {
        let h = environment_help(VARS);
        let lines: Vec<&str> = h.lines().collect();
        assert_eq!(lines[0], "Environment:");
        assert!(
            lines[1].starts_with("  TEST_ONE              the first"),
            "{h}"
        );
        assert!(lines[2].starts_with(&" ".repeat(NAME_COLUMN + 2)), "{h}");
        assert_eq!(lines[3], "  TEST_TWO              short");
        assert!(lines.iter().all(|l| l.len() <= HELP_WIDTH), "{h}");
    }

    #[test]
    fn man_pages_of_a_command_tree() {
        let cmd = clap::Command::new("prog")
            .version("1.0")
            .long_about("Does things.\n\nExample:\n  prog sub --flag\n  prog other\nDone.")
            .arg(clap::Arg::new("verbose").short('v').long("verbose"))
            .subcommand(
                clap::Command::new("sub")
                    .about("A sub")
                    .arg(clap::Arg::new("x")),
            )
            .subcommand(clap::Command::new("hidden").hide(true));
        let d = tempfile::tempdir().unwrap();
        let pages = man_pages(cmd, VARS, &d.path().join("man1")).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["prog.1", "prog-sub.1"]);
        let top = std::fs::read_to_string(&pages[0]).unwrap();
        assert!(top.starts_with(".ie \\n(.g .ds Aq"), "{top}");
        assert_eq!(top.matches(".ds Aq").count(), 2, "one preamble: {top}");
        assert!(top.contains("\n.TH prog 1 "), "{top}");
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "SUBCOMMANDS",
            "ENVIRONMENT",
        ] {
            assert!(
                top.contains(&format!(".SH {section}\n")),
                "{section}: {top}"
            );
        }
        assert!(top.contains(".nf\n  prog sub \\-\\-flag\n"), "{top}");
        assert!(top.contains("\\fBTEST_ONE\\fR"), "{top}");
        let sub = std::fs::read_to_string(&pages[1]).unwrap();
        assert!(sub.contains("\n.TH prog-sub 1 "), "{sub}");
        assert!(
            sub.contains(".SH \"SEE ALSO\"") || sub.contains(".SH SEE ALSO"),
            "{sub}"
        );
        assert!(!sub.contains("ENVIRONMENT"), "{sub}");
    }

    #[test]
    fn an_unwritable_folder_is_named() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = man_pages(clap::Command::new("p"), &[], &file.join("man1")).unwrap_err();
        assert!(e.to_string().contains("file/man1"), "{e}");
    }
}
