//! rinit as PID 1 of a runc container — what Docker runs underneath: read-only
//! root file system, Docker's default capabilities (no SYS_ADMIN), as root and
//! as uid 1000. `runc kill ID TERM` is `docker stop`.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

struct Container {
    id: String,
    bundle: PathBuf,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["delete", "--force", &self.id])
            .output();
        let _ = std::fs::remove_dir_all(&self.bundle);
    }
}

impl Container {
    /// A bundle whose root is the host's / (bind-mounted, read-only) and whose
    /// process runs `rinit ARGS` with the probe at /…/bin/probe.
    fn new(uid: u32, rinit_args: &[&str]) -> (Container, Command) {
        let bundle = temp_dir("runc");
        let id = bundle.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::create_dir(bundle.join("rootfs")).unwrap();
        // Copies in a world-readable place: the checkout may be under a private home.
        let bin = bundle.join("bin");
        std::fs::create_dir(&bin).unwrap();
        copy_binaries_to(&bin);
        let spec = Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .status()
            .unwrap();
        assert!(spec.success(), "runc spec");

        let path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut args = vec![bin.join("rinit").to_string_lossy().into_owned()];
        args.extend(
            rinit_args
                .iter()
                .map(|a| a.replace("PROBE", &bin.join("probe").to_string_lossy())),
        );
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = args.into();
        config["process"]["user"] = serde_json::json!({ "uid": uid, "gid": uid });
        config["root"] = serde_json::json!({ "path": "rootfs", "readonly": true });
        let linux = config["linux"].as_object_mut().unwrap();
        linux.remove("cgroupsPath");
        linux.remove("resources");
        let mounts = config["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["type"] != "cgroup");
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();

        // The root bind mount lives in a private mount namespace that ends with runc.
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount --rbind / \"$0/rootfs\" && exec runc run --bundle \"$0\" \"$1\"")
            .arg(&bundle)
            .arg(&id);
        (Container { id, bundle }, cmd)
    }

    /// A tmpfs on /run owned by `uid` (`docker run --tmpfs /run:uid=UID`;
    /// runc gives a tmpfs the mode of the directory it covers, 0755 here).
    fn with_tmpfs_run(&self, uid: u32) {
        let path = self.bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/run", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", format!("uid={uid}"), format!("gid={uid}")]
        }));
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    }

    /// `docker exec --user UID CT ARGS`.
    fn exec(&self, uid: u32, args: &[&str]) -> Finished {
        let mut cmd = Command::new("runc");
        cmd.args(["exec", "--user", &format!("{uid}:{uid}"), &self.id])
            .args(args);
        run(cmd)
    }

    /// Puts `text` in the bundle as rinit.toml, for `-c CONFIG`.
    fn configure(&self, text: &str) {
        let config_path = self.bundle.join("bin/rinit.toml");
        std::fs::write(&config_path, text).unwrap();
        let json_path = self.bundle.join("config.json");
        let json = std::fs::read_to_string(&json_path)
            .unwrap()
            .replace("\"CONFIG\"", &format!("{:?}", config_path.to_string_lossy()));
        std::fs::write(&json_path, json).unwrap();
    }

    fn kill(&self, signal: &str) {
        let status = Command::new("runc")
            .args(["kill", &self.id, signal])
            .status()
            .unwrap();
        assert!(status.success(), "runc kill {signal}");
    }
}

#[test]
fn docker_stop_reaches_the_command_and_its_exit_code_comes_back() {
    let (container, cmd) = Container::new(0, &["--", "PROBE", "signals"]);
    let mut running = Running::start(cmd);
    running.expect_out_eq("ready");
    container.kill("TERM");
    running.expect_out_eq("got SIGTERM");
    container.kill("HUP");
    running.expect_out_eq("got SIGHUP");
    assert_eq!(running.finish().code(), 0);

    let (_container, cmd) = Container::new(0, &["--", "PROBE", "die", "KILL"]);
    assert_eq!(run(cmd).code(), 137);
}

#[test]
fn as_uid_1000_on_a_read_only_root_the_child_starts_clean() {
    let (_container, cmd) = Container::new(1000, &["--", "PROBE", "status"]);
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    for line in [
        "fds: 0 1 2",
        "Uid: 1000 1000 1000 1000",
        "Gid: 1000 1000 1000 1000",
        "PPid: 1",
        "cwd: /",
    ] {
        assert_has_line(&done.out, line);
    }
    assert!(done.err.is_empty(), "{:?}", done.err);

    let (_container, cmd) = Container::new(1000, &["--", "PROBE", "write-root"]);
    assert_eq!(run(cmd).out, ["write to /: EROFS"]);

    let (_container, cmd) = Container::new(1000, &["--", "cat", "/proc/self/status"]);
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.out, "SigBlk:\t0000000000000000");
    assert_has_line(&done.out, "SigIgn:\t0000000000000000");
    assert_has_line(&done.out, "CapEff:\t0000000000000000");
}

#[test]
fn as_uid_1000_orphans_are_reaped_and_leftovers_swept() {
    let (_container, cmd) = Container::new(1000, &["--", "PROBE", "orphans", "2000"]);
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.out.last().map(String::as_str),
        Some("zombies=0"),
        "{:?}",
        done.out
    );

    let (_container, cmd) = Container::new(1000, &["-t", "200ms", "--", "PROBE", "daemon", "stubborn"]);
    let done = run(cmd);
    assert_eq!(done.code(), 7, "{:?}", done.err);
    assert!(
        done.err
            .iter()
            .any(|l| l.starts_with("rinit: processes still running")),
        "{:?}",
        done.err
    );

    let (_container, cmd) = Container::new(1000, &["--", "PROBE", "daemon"]);
    let done = run(cmd);
    assert_eq!(done.code(), 7, "{:?}", done.err);
    assert_has_line(&done.out, "daemon got SIGTERM");
}

#[test]
fn supervisor_mode_as_uid_1000_on_a_read_only_root() {
    let (container, cmd) = Container::new(1000, &["-c", "CONFIG"]);
    let bin = container.bundle.join("bin");
    let probe = bin.join("probe").to_string_lossy().into_owned();
    // A real sd_notify client, as gunicorn's: NOTIFY_SOCKET is abstract ("@…"),
    // so it needs no writable file system.
    let notifier =
        "import os,socket,time; a=os.environ['NOTIFY_SOCKET']; a='\\0'+a[1:] if a[0]=='@' else a; \
                    s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); print('notify sending', flush=True); \
                    s.sendto(b'READY=1', a); time.sleep(100)";
    let config = format!(
        "[rinit]\noutput = \"prefix\"\n\
         [program.setup]\ncommand = \"sh -c 'echo setup as $(id -u)'\"\ntype = \"oneshot\"\n\
         [program.web]\ncommand = [\"python3\", \"-c\", {notifier:?}]\ntype = \"notify\"\nafter = [\"setup\"]\n\
         [program.worker]\ncommand = [{probe:?}, \"serve\", \"worker\"]\nafter = [\"web\"]\ninstances = 2\n"
    );
    let config_path = bin.join("rinit.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = cmd;
    // The bundle's config.json names CONFIG: put the real path in.
    let json_path = container.bundle.join("config.json");
    let json = std::fs::read_to_string(&json_path)
        .unwrap()
        .replace("\"CONFIG\"", &format!("{:?}", config_path.to_string_lossy()));
    std::fs::write(&json_path, json).unwrap();
    cmd.current_dir("/");
    let mut running = Running::start(cmd);
    running.expect_out_all(&[
        "setup | setup as 1000",
        "web | notify sending",
        "worker.0 | worker ready",
        "worker.1 | worker ready",
    ]);
    container.kill("TERM");
    running.expect_out_all(&["worker.0 | worker got SIGTERM", "worker.1 | worker got SIGTERM"]);
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.err, "rinit: web is ready");
    // On a read-only root, no control socket: one warning, and rinit runs on.
    assert_eq!(
        done.err[0],
        "rinit: control socket /run/rinit.sock: Read-only file system; running without it \
         (rinit status and the like cannot reach this rinit)"
    );
    assert!(
        done.err[1..]
            .iter()
            .all(|l| !l.contains("warn") && !l.contains("cannot")),
        "{:?}",
        done.err
    );
}

#[test]
fn status_as_uid_1000_on_a_read_only_root_with_a_tmpfs_run() {
    // `docker run --read-only --tmpfs /run --user 1000` and `docker exec CT
    // rinit status` as the HEALTHCHECK does.
    let (container, mut cmd) = Container::new(1000, &["-c", "CONFIG"]);
    container.with_tmpfs_run(1000);
    let bin = container.bundle.join("bin");
    let probe = bin.join("probe").to_string_lossy().into_owned();
    container.configure(&format!(
        "[program.web]\ncommand = [{probe:?}, \"serve\", \"web\"]\ncritical = true\n\
         [program.late]\ncommand = \"sleep 1000\"\ntype = \"notify\"\n"
    ));
    cmd.current_dir("/");
    let mut running = Running::start(cmd);
    running.expect_out_eq("web ready");
    let rinit = bin.join("rinit").to_string_lossy().into_owned();
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        let status = container.exec(
            1000,
            &[&rinit, "status", "-c", bin.join("rinit.toml").to_str().unwrap()],
        );
        if status.code() != 3 || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    if status.code() != 0 {
        container.kill("KILL");
        let done = running.finish();
        panic!("status: {:?} {:?}; rinit: {:?}", status.out, status.err, done.err);
    }
    let rows: Vec<Vec<&str>> = status.out[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!((rows[0][0], rows[0][1]), ("web", "ready"), "{:?}", status.out);
    assert_eq!(
        (rows[1][0], rows[1][1]),
        ("late", "running"),
        "not critical: no failure"
    );
    // Another user of the container is refused (the socket is 0600).
    let other = container.exec(
        1001,
        &[&rinit, "status", "-c", bin.join("rinit.toml").to_str().unwrap()],
    );
    assert_eq!(other.code(), 3, "{:?}", other.err);
    container.kill("TERM");
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(
        !done.err.iter().any(|l| l.contains("control socket")),
        "{:?}",
        done.err
    );
}
