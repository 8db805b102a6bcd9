//! Starting an instance: its program turned into a prepared
//! `spawn::Command` — environment, directory, user, stdio (its output pipes
//! with `output = "prefix"`, its notify socket with `type = "notify"`) —
//! then the spawn, whose result goes back to the instance's gate.

use std::borrow::Cow;
use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

use nix::poll::PollFlags;

use super::instance::Event;
use super::output::{LineFormat, StreamId};
use super::ready::NotifySocket;
use super::{InstanceId, Key, Owner, Supervisor};
use crate::config::{environment, expand, Kind, Output as OutputMode, Plan, Program};
use crate::pid1::spawn::{Child, Command, Credentials, SpawnError, WorkDir};

impl Supervisor<'_> {
    /// Starts instance `i` and tells its gate how that went. Over 50 lines:
    /// a start's one sequence — environment, notify socket, stdio, command,
    /// spawn, the gate.
    pub(super) fn spawn(&mut self, i: InstanceId) {
        let plan = self.plan();
        let program = plan.program(self.fleet.member(i).program);
        let mut env = match self.environment(i) {
            Ok(env) => env,
            Err(why) => return self.fleet.deliver(i, Event::SpawnFailed(why)),
        };
        if program.kind == Kind::Notify {
            if let Some(address) = self.notify_socket(i) {
                environment::set(&mut env, "NOTIFY_SOCKET", &address);
            }
        }
        let [out, err] = self.output_fds(i);
        let stdin = (!program.is_main).then(|| self.null.as_raw_fd());
        let args = instance_command(program, &env);
        let started = self.command(i, &args, env).and_then(|command| {
            let command = command
                .shown_as(program.written.command.first())
                .stdio([stdin, out, err])
                .foreground(program.is_main && self.settings.foreground);
            let mut child = command.spawn()?;
            let failure = child
                .exec_failure()
                .map(|(failure, errno)| command.exec_error(failure, errno));
            Ok((child, failure))
        });
        let event = match started {
            Ok((child, failure)) => {
                self.owners.insert(child.pid(), Owner::Program(i));
                if let Some(failure) = &failure {
                    error!("{}: {failure}", self.fleet.instance(i).name());
                }
                Event::Spawned {
                    child,
                    exec_failed: failure.is_some(),
                }
            }
            Err(err) => Event::SpawnFailed(err.to_string()),
        };
        // Carried out by the caller's effect loop.
        self.fleet.deliver(i, event);
    }
}

/// The program's command, or, when it uses ${RINIT_INSTANCE}, its words
/// expanded again in this instance's environment `env`.
fn instance_command<'a>(program: &'a Program, env: &[(OsString, OsString)]) -> Cow<'a, [OsString]> {
    let Some(words) = &program.command_template else {
        return Cow::Borrowed(&program.command);
    };
    let lookup = |name: &str| {
        let value = env.iter().find(|(key, _)| key == name);
        value.map(|(_, value)| value.to_string_lossy().into_owned())
    };
    let expanded: Result<Vec<OsString>, String> = words
        .iter()
        .map(|word| expand::expand(word, &mut |name| lookup(name)).map(OsString::from))
        .collect();
    // The same words expanded in the same environment when the configuration
    // was checked; only RINIT_INSTANCE differs.
    match expanded {
        Ok(args) => Cow::Owned(args),
        Err(_) => Cow::Borrowed(&program.command),
    }
}

impl Supervisor<'_> {
    /// The plan, to hold while the supervisor changes (a reload replaces it).
    pub(super) fn plan(&self) -> Rc<Plan> {
        Rc::clone(&self.fleet.plan)
    }

    /// Where instance `i`'s stdout and stderr go: rinit's own (inherit),
    /// /dev/null, or its pipes (prefix, json).
    fn output_fds(&mut self, i: InstanceId) -> [Option<RawFd>; 2] {
        match self.plan().program(self.fleet.member(i).program).output {
            OutputMode::Inherit => [None, None],
            OutputMode::Null => [Some(self.null.as_raw_fd()); 2],
            OutputMode::Prefix | OutputMode::Json => match (self.output_pipes(i), &self.output) {
                (Some(ids), Some(output)) => output.write_ends(ids),
                _ => [None, None],
            },
        }
    }

    /// Instance `i`'s notify socket, made (and watched) at its first start
    /// and emptied of what an earlier run sent; its NOTIFY_SOCKET value.
    fn notify_socket(&mut self, i: InstanceId) -> Option<String> {
        // `io` has a place for each instance.
        let io = self.io.get_mut(i.0)?;
        if io.notify.is_none() {
            match NotifySocket::new() {
                Ok(socket) => {
                    self.events
                        .watch(socket.raw_fd(), PollFlags::POLLIN, Key::Notify(i));
                    io.notify = Some(socket);
                }
                Err(errno) => warn!(
                    "{}: cannot create its notify socket: {}",
                    self.fleet.instance(i).name(),
                    errno.desc()
                ),
            }
        }
        let socket = io.notify.as_mut()?;
        socket.ready_received(None, "");
        Some(socket.address.clone())
    }

    /// Instance `i`'s two output pipes, made at its first start and kept
    /// for all its runs: their stream ids.
    fn output_pipes(&mut self, i: InstanceId) -> Option<[StreamId; 2]> {
        // `io` has a place for each instance.
        if let Some(ids) = self.io.get(i.0).and_then(|io| io.streams) {
            return Some(ids);
        }
        let name = self.fleet.instance(i).name();
        let plan = self.plan();
        let program = plan.program(self.fleet.member(i).program);
        let format = match program.output {
            OutputMode::Json => LineFormat::Json {
                program: program.name.clone(),
                instance: self.fleet.member(i).number,
            },
            _ => LineFormat::Prefix {
                label: name.to_string(),
                timestamps: program.timestamps,
            },
        };
        match self.output.as_mut()?.open(&format) {
            Ok(ids) => {
                if let Some(io) = self.io.get_mut(i.0) {
                    io.streams = Some(ids);
                }
                Some(ids)
            }
            Err(errno) => {
                warn!("{name}: cannot create its output pipes: {}", errno.desc());
                None
            }
        }
    }

    /// The prepared command for instance `i`'s program (or its check):
    /// directory and user applied.
    pub(super) fn command(
        &self,
        i: InstanceId,
        args: &[OsString],
        env: Vec<(OsString, OsString)>,
    ) -> Result<Command, SpawnError> {
        let plan = self.plan();
        let program = plan.program(self.fleet.member(i).program);
        let mut command = Command::new(args, env)?
            .open_files_limit(self.settings.open_files)
            .umask(program.umask)
            .resources(&program.resources);
        command = match &program.directory {
            Some(dir) => match CString::new(dir.as_os_str().as_bytes()) {
                Ok(path) => command.work_dir(WorkDir::Path(path)),
                Err(_) => command,
            },
            None => match self.settings.start_dir {
                Some(fd) => command.work_dir(WorkDir::Fd(fd)),
                None => command,
            },
        };
        if let (Some(account), 0) = (&program.user, self.own_uid) {
            command = command.credentials(Credentials {
                uid: account.user.uid,
                gid: account.groups.first().copied().unwrap_or(account.user.gid),
                groups: account.groups.clone(),
            });
        }
        Ok(command)
    }

    /// A `ready` or `health` command of instance `i`: as the program (its
    /// user, directory and environment), with /dev/null as 0, 1 and 2.
    pub(super) fn spawn_check(&self, i: InstanceId, words: &[String]) -> Result<Child, SpawnError> {
        let args: Vec<OsString> = words.iter().map(OsString::from).collect();
        let null = self.null.as_raw_fd();
        let env = self.environment(i).map_err(SpawnError::Invalid)?;
        self.command(i, &args, env)?
            .stdio([Some(null), Some(null), Some(null)])
            .spawn()
    }

    /// Instance `i`'s environment: its program's, then RINIT_PROGRAM and
    /// RINIT_INSTANCE, which always win; its values from files read now
    /// (Err names the variable and the file).
    pub(super) fn environment(&self, i: InstanceId) -> Result<Vec<(OsString, OsString)>, String> {
        let member = self.fleet.member(i);
        let program = self.fleet.plan.program(member.program);
        let number = member.number.map(|n| n.to_string());
        match &number {
            Some(number) => program
                .env
                .resolve(&[("RINIT_PROGRAM", &program.name), ("RINIT_INSTANCE", number)]),
            None => program.env.resolve(&[("RINIT_PROGRAM", &program.name)]),
        }
    }
}
