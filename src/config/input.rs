//! Reading the files rinit is given — the configuration, env files,
//! /etc/passwd and /etc/group — so that none can hang or swamp it: regular
//! files only (a FIFO would block the open or the read, /dev/zero would never
//! end), opened without blocking, at most `MAX_SIZE` bytes. `-c -` reads the
//! configuration from standard input instead, with the same bound.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::stat::Mode;

/// The largest file rinit reads.
pub const MAX_SIZE: usize = 4 * 1024 * 1024;

/// The path that means standard input.
pub const STDIN: &str = "-";

/// The text of the regular file at `path` (or of standard input for `-`);
/// Err says what is wrong with it, in words that follow the path.
pub fn read_text(path: &Path) -> Result<String, String> {
    let bytes = if path.as_os_str() == STDIN {
        read_bounded(0, MAX_SIZE)?
    } else {
        read_file(path, MAX_SIZE)?
    };
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// The bytes of the regular file at `path`, at most `max` of them; Err says
/// what is wrong with it, in words that follow the path.
pub fn read_file(path: &Path, max: usize) -> Result<Vec<u8>, String> {
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    let file = nix::fcntl::open(path, flags, Mode::empty()).map_err(|e| e.desc().to_string())?;
    let kind = file_kind(&file)?;
    if kind != libc::S_IFREG {
        return Err(format!("not a regular file ({})", kind_name(kind)));
    }
    read_bounded(file.as_raw_fd(), max)
}

fn file_kind(file: &OwnedFd) -> Result<libc::mode_t, String> {
    nix::sys::stat::fstat(file)
        .map(|stat| stat.st_mode & libc::S_IFMT)
        .map_err(|e| e.desc().to_string())
}

fn kind_name(kind: libc::mode_t) -> &'static str {
    match kind {
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        _ => "not a file",
    }
}

/// Reads `fd` to its end, refusing more than `max` bytes.
fn read_bounded(fd: libc::c_int, max: usize) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match crate::sys::read(fd, &mut buf) {
            Ok(0) => return Ok(bytes),
            Ok(n) => {
                if bytes.len().saturating_add(n) > max {
                    return Err(match max >> 20 {
                        0 => format!("larger than {} KiB", max >> 10),
                        mib => format!("larger than {mib} MiB"),
                    });
                }
                bytes.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.desc().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("rinit-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ok.toml");
        std::fs::write(&file, "a = 1\n").unwrap();
        assert_eq!(read_text(&file), Ok("a = 1\n".into()));
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(read_text(&fifo), Err("not a regular file (a FIFO)".into()));
        assert_eq!(
            read_text(Path::new("/dev/zero")),
            Err("not a regular file (a character device)".into())
        );
        assert_eq!(read_text(&dir), Err("not a regular file (a directory)".into()));
        assert_eq!(
            read_text(&dir.join("missing")),
            Err("No such file or directory".into())
        );
        let big = dir.join("big");
        std::fs::write(&big, vec![b'#'; MAX_SIZE + 1]).unwrap();
        assert_eq!(read_text(&big), Err("larger than 4 MiB".into()));
        std::fs::write(&big, vec![b'#'; MAX_SIZE]).unwrap();
        assert_eq!(read_text(&big).map(|text| text.len()), Ok(MAX_SIZE));
        std::fs::write(&big, b"\xff\n").unwrap();
        assert_eq!(read_text(&big), Err("not UTF-8 text".into()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
