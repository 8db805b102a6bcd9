//! rinit's help texts: the usage `rinit --help` prints, and each
//! subcommand's (`rinit help SUBCOMMAND`, `rinit SUBCOMMAND --help`).

pub const USAGE: &str = "\
usage: rinit [OPTIONS] [--] COMMAND [ARGS...]   run one command (tini's job)
       rinit [OPTIONS]                          supervise the programs of the configuration
       rinit [OPTIONS] -- COMMAND [ARGS...]     ... with COMMAND as the critical program `main`
       rinit check [-c PATH]                    validate a configuration, print the start plan
       rinit status [--json] [-q] [NAME...]     ask the running rinit (control socket) how its programs are
       rinit signal SIGNAL NAME...              send a signal to programs (NAME, NAME.I or NAME:*)
       rinit start|stop|restart [--no-wait] NAME...  and wait until they are up (or down)
       rinit reload [--check] [--no-wait]       read the configuration again and apply what changed
       rinit import [--root DIR] [--split DIR] FILE...  print a supervisord.conf, systemd units, a Procfile or a crontab as rinit TOML
       rinit help [SUBCOMMAND]                  this help, or a subcommand's (also SUBCOMMAND --help)

As PID 1, rinit reaps zombies, forwards signals, and exits with the command's
exit code (128+N after signal N). The configuration is -c PATH, else
$RINIT_CONFIG, else /etc/rinit.toml if it exists.

options:
  -c PATH       configuration file (also --config PATH)
  -s            become a child subreaper (automatic when not PID 1)
  -g            forward signals to the command's whole process group
  -e CODE       treat exit code CODE (0-255, after 128+N) as 0; repeatable
  -t DURATION   grace after SIGTERM before SIGKILL for processes left behind
                (default 5s; e.g. 500ms, 10s, 1m30s)
  -p SIGNAL     have the kernel send SIGNAL to rinit when its parent dies
  -v, -q        more / less of rinit's own logging
  -w            warn of each process reaped that rinit did not start
  -h, --help    this help
  -V, --version the version
  -l            the license

environment: RINIT_CONFIG, RINIT_SUBREAPER, RINIT_GRACE=DURATION,
             RINIT_LOG=debug|info|warn|error
exit codes: the command's (or the critical program's); supervisor mode: 0 when
every program ended cleanly, else 1; 2 for a bad command line or configuration;
126/127 when the command cannot be run; 1 when rinit itself cannot start.
status and signal: 0 done; 1 the request failed, or (status) a critical program
is not up; 3 no rinit reachable on the control socket.
";

/// Each subcommand's usage, for `rinit help SUBCOMMAND` and `--help`.
/// Over 50 lines: one text per subcommand, side by side.
pub fn usage_of(subcommand: &str) -> Option<&'static str> {
    Some(match subcommand {
        "check" => {
            "\
usage: rinit check [-c PATH]

Reads the configuration (-c PATH, else $RINIT_CONFIG, else /etc/rinit.toml)
as rinit would, and looks at this machine: every command can be found and
run, every user exists, every stop signal can stop its program. Prints the
start plan on stdout and exits 0; else prints each error (FILE:LINE:COL:
program NAME: key KEY: what is wrong) and exits 2. Warns when the
stop_timeouts along the shutdown order add up to more than shutdown_timeout.
Run it in the image: RUN [\"/sbin/rinit\", \"check\"].
"
        }
        "status" => {
            "\
usage: rinit status [--json] [-q] [-c PATH] [NAME...]

Asks the running rinit, through its control socket, how its programs are:
one line each (name, state, pid, uptime, restarts, last exit), or JSON.
NAME is a program, NAME.I or a group (NAME:* too). -q prints nothing.
Exit codes: 0 every critical program is up; 1 one is not (a HEALTHCHECK or a
Kubernetes exec probe fails); 3 no rinit answers on the socket.
"
        }
        "start" | "stop" | "restart" => {
            "\
usage: rinit start|stop|restart [--no-wait] [-c PATH] NAME...

Starts, stops or restarts programs of the running rinit (NAME: a program,
NAME.I, or a group, also NAME:*) in dependency order, and waits until they
are ready (at most their ready_timeout) or stopped (their stop_timeout);
--no-wait returns at once. A program stopped with rinit stop stays down
until rinit start. Exit codes: 0 done; 1 it failed; 3 no rinit answers.
"
        }
        "reload" => {
            "\
usage: rinit reload [--check] [--no-wait] [-c PATH]

Has the running rinit read its configuration again (with its includes and
env files) and apply the difference: new programs start, removed ones stop,
changed ones restart (with the programs that come after them), unchanged
ones keep running untouched. A configuration with an error changes nothing:
every error is printed. Waits until the new programs are ready (--no-wait
returns at once) and prints what changed; --check only says what would.
Exit codes: 0 done; 1 an error, nothing changed; 3 no rinit answers.
"
        }
        "signal" => {
            "\
usage: rinit signal SIGNAL [-c PATH] NAME...

Sends SIGNAL (HUP, SIGHUP or a number) to the main process of each named
program of the running rinit (its whole process group with stop_group).
Exit codes: 0 sent; 1 it failed; 3 no rinit answers.
"
        }
        "import" => {
            "\
usage: rinit import [--root DIR] [--split DIR] FILE...

Prints rinit TOML for a supervisord configuration (its [include] files, read
under --root DIR where absolute; with --split DIR, each included file's
programs go to DIR/NAME.toml, which the printed file includes), systemd
.service, .target and .socket units
(and a template's instances, x@1.service) given together, a Procfile or a
crontab. What cannot be carried over is one line on stderr: a note, a warning
(also a comment at its program) or an error. Check it: rinit check -c FILE.
Exit codes: 0 printed; 1 printed, with an error; 2 a file cannot be read, understood or written.
"
        }
        _ => return None,
    })
}
