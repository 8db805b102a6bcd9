//! The raw system calls of everything outside pid1/, behind safe functions:
//! each `unsafe` block of the supervisor, the control socket, the HTTP
//! server and the output path is here, with the reason it is sound. (pid1/
//! keeps the calls that belong to forking, signals and reaping.) Errors come
//! back as `Errno`; no wrapper retries on EINTR, callers decide.

use std::ffi::CString;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::libc::{self, c_int, pid_t};

/// A byte count from a call that returned `n` (checked by `Errno::result`).
fn count(n: isize) -> Result<usize, Errno> {
    Errno::result(n).map(|n| n.unsigned_abs())
}

/// read(2) into `buf`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: read(2) writes at most `buf.len()` bytes into the live slice.
    count(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// write(2) of `bytes`.
pub fn write(fd: RawFd, bytes: &[u8]) -> Result<usize, Errno> {
    // SAFETY: write(2) reads at most `bytes.len()` bytes of the live slice.
    count(unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) })
}

/// send(2) of `bytes` that never blocks and never raises SIGPIPE.
pub fn send_now(fd: RawFd, bytes: &[u8]) -> Result<usize, Errno> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: send(2) reads at most `bytes.len()` bytes of the live slice.
    count(unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), flags) })
}

/// send(2) of `bytes` that may block (up to the socket's SO_SNDTIMEO) and
/// never raises SIGPIPE.
pub fn send(fd: RawFd, bytes: &[u8]) -> Result<usize, Errno> {
    // SAFETY: send(2) reads at most `bytes.len()` bytes of the live slice.
    count(unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) })
}

/// One byte of stream socket `fd` peeked at, without blocking or taking it:
/// 1 when bytes wait, 0 when the peer has closed.
fn peek_one(fd: RawFd) -> Result<usize, Errno> {
    let mut byte = 0u8;
    let flags = libc::MSG_PEEK | libc::MSG_DONTWAIT;
    // SAFETY: recv(2) writes at most one byte into the live local.
    count(unsafe { libc::recv(fd, (&raw mut byte).cast(), 1, flags) })
}

/// Whether the peer of stream socket `fd` has closed (or the socket broke,
/// or, against the protocol, sent more).
pub fn peer_closed(fd: RawFd) -> bool {
    !matches!(peek_one(fd), Err(Errno::EAGAIN | Errno::EINTR))
}

/// Whether the peer of stream socket `fd` has gone with nothing left to
/// read: its end of file is next (or the socket broke).
pub fn peer_gone(fd: RawFd) -> bool {
    matches!(
        peek_one(fd),
        Ok(0) | Err(Errno::ECONNRESET | Errno::EPIPE | Errno::ENOTCONN)
    )
}

/// Whether stream socket `fd` has bytes waiting to be read.
pub fn has_input(fd: RawFd) -> bool {
    matches!(peek_one(fd), Ok(n) if n > 0)
}

/// A new close-on-exec socket; `nonblocking` adds SOCK_NONBLOCK.
pub fn socket(family: c_int, kind: c_int, nonblocking: bool) -> Result<OwnedFd, Errno> {
    let flags = libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: socket(2) takes plain integers.
    let fd = Errno::result(unsafe { libc::socket(family, kind | flags, 0) })?;
    // SAFETY: socket(2) just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A socket address, as bind(2) and connect(2) take it.
pub struct SocketAddress {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

/// The size of `T` as a socklen_t (socket structures are a few hundred bytes).
fn size_of<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}

impl SocketAddress {
    fn empty() -> SocketAddress {
        SocketAddress {
            // SAFETY: all-zero bytes are a valid sockaddr_storage.
            storage: unsafe { std::mem::zeroed() },
            len: 0,
        }
    }

    /// The address of the unix socket at `path`.
    pub fn unix(path: &Path) -> Result<SocketAddress, String> {
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| "the path contains a NUL byte".to_string())?;
        let mut address = SocketAddress::empty();
        let un = address.as_unix();
        un.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_bytes_with_nul();
        if bytes.len() > un.sun_path.len() {
            let longest = un.sun_path.len().saturating_sub(1);
            return Err(format!("the path is longer than {longest} bytes"));
        }
        for (slot, &byte) in un.sun_path.iter_mut().zip(bytes) {
            *slot = byte as libc::c_char;
        }
        address.len = size_of::<libc::sa_family_t>().saturating_add(bytes.len() as libc::socklen_t);
        Ok(address)
    }

    /// An IPv4 or IPv6 address.
    pub fn ip(address: &SocketAddr) -> SocketAddress {
        let mut out = SocketAddress::empty();
        match address {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_storage is large and aligned enough for
                // sockaddr_in, and all-zero bytes are a valid one.
                let sin = unsafe { &mut *(&raw mut out.storage).cast::<libc::sockaddr_in>() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                out.len = size_of::<libc::sockaddr_in>();
            }
            SocketAddr::V6(v6) => {
                // SAFETY: sockaddr_storage is large and aligned enough for
                // sockaddr_in6, and all-zero bytes are a valid one.
                let sin6 = unsafe { &mut *(&raw mut out.storage).cast::<libc::sockaddr_in6>() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_addr.s6_addr = v6.ip().octets();
                sin6.sin6_scope_id = v6.scope_id();
                out.len = size_of::<libc::sockaddr_in6>();
            }
        }
        out
    }

    /// The address family, for `socket`.
    pub fn family(&self) -> c_int {
        c_int::from(self.storage.ss_family)
    }

    fn as_unix(&mut self) -> &mut libc::sockaddr_un {
        // SAFETY: sockaddr_storage is large and aligned enough for
        // sockaddr_un, and all-zero bytes are a valid one.
        unsafe { &mut *(&raw mut self.storage).cast::<libc::sockaddr_un>() }
    }
}

/// bind(2) to `address`.
pub fn bind(fd: &OwnedFd, address: &SocketAddress) -> Result<(), Errno> {
    // SAFETY: `address.storage` is live and at least `address.len` bytes long.
    Errno::result(unsafe { libc::bind(fd.as_raw_fd(), (&raw const address.storage).cast(), address.len) })
        .map(drop)
}

/// bind(2) to `address` with the file mode creation mask `mask` in force,
/// so the socket file never exists with a wider mode.
pub fn bind_with_umask(fd: &OwnedFd, address: &SocketAddress, mask: u32) -> Result<(), Errno> {
    // SAFETY: umask(2) only swaps the process's mask; rinit is single-threaded.
    let previous = unsafe { libc::umask(mask) };
    let bound = bind(fd, address);
    // SAFETY: restores the mask swapped above.
    unsafe { libc::umask(previous) };
    bound
}

/// connect(2) to `address`.
pub fn connect(fd: &OwnedFd, address: &SocketAddress) -> Result<(), Errno> {
    // SAFETY: `address.storage` is live and at least `address.len` bytes long.
    Errno::result(unsafe { libc::connect(fd.as_raw_fd(), (&raw const address.storage).cast(), address.len) })
        .map(drop)
}

/// listen(2) with room for `backlog` waiting connections.
pub fn listen(fd: RawFd, backlog: usize) -> Result<(), Errno> {
    let backlog = c_int::try_from(backlog).unwrap_or(c_int::MAX);
    // SAFETY: listen(2) takes plain integers.
    Errno::result(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// accept4(2) of one connection, non-blocking and close-on-exec.
pub fn accept(listener: RawFd) -> Result<OwnedFd, Errno> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: accept4(2) with no address wanted: null pointers are allowed.
    let fd = unsafe { libc::accept4(listener, std::ptr::null_mut(), std::ptr::null_mut(), flags) };
    let fd = Errno::result(fd)?;
    // SAFETY: accept4(2) just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The name the kernel gave unix datagram socket `fd` by autobind (bind(2)
/// with only the family): the abstract name, without its leading NUL.
pub fn autobind(fd: &OwnedFd) -> Result<String, Errno> {
    let mut address = SocketAddress::empty();
    address.as_unix().sun_family = libc::AF_UNIX as libc::sa_family_t;
    address.len = size_of::<libc::sa_family_t>();
    bind(fd, &address)?;
    let mut len = size_of::<libc::sockaddr_storage>();
    // SAFETY: getsockname(2) writes at most `len` bytes into the live storage.
    let rc = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut address.storage).cast(), &mut len) };
    Errno::result(rc)?;
    // sun_path[0] is NUL (abstract); the name follows, `len - family - 1` bytes.
    let name_len = (len as usize).saturating_sub(std::mem::size_of::<libc::sa_family_t>().saturating_add(1));
    let name = address.as_unix().sun_path.iter().skip(1).take(name_len);
    Ok(name.map(|&c| c as u8 as char).collect())
}

/// setsockopt(2) of one plain value.
fn set_option<T>(fd: &OwnedFd, option: c_int, value: &T) -> Result<(), Errno> {
    // SAFETY: setsockopt(2) reads `size_of::<T>()` bytes of the live value.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (value as *const T).cast(),
            size_of::<T>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// SO_PASSCRED: each datagram received carries its sender's credentials.
pub fn pass_credentials(fd: &OwnedFd) -> Result<(), Errno> {
    set_option(fd, libc::SO_PASSCRED, &(1 as c_int))
}

/// SO_RCVTIMEO and SO_SNDTIMEO: blocking reads and writes give up after
/// `patience` (whole seconds).
pub fn set_timeouts(fd: &OwnedFd, patience: Duration) -> Result<(), Errno> {
    let patience = libc::timeval {
        tv_sec: libc::time_t::try_from(patience.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: 0,
    };
    set_option(fd, libc::SO_RCVTIMEO, &patience)?;
    set_option(fd, libc::SO_SNDTIMEO, &patience)
}

/// getsockopt(2) of one plain value.
fn get_option<T: Copy>(fd: &OwnedFd, option: c_int, mut value: T) -> Result<T, Errno> {
    let mut len = size_of::<T>();
    // SAFETY: getsockopt(2) writes at most `len` bytes into the live value.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    Errno::result(rc).map(|_| value)
}

/// The credentials of the process at the other end of unix socket `fd`.
pub fn peer_credentials(fd: &OwnedFd) -> Result<libc::ucred, Errno> {
    get_option(
        fd,
        libc::SO_PEERCRED,
        libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        },
    )
}

/// SO_ERROR: the outcome of a non-blocking connect (0 when it succeeded).
pub fn socket_error(fd: &OwnedFd) -> Result<c_int, Errno> {
    get_option(fd, libc::SO_ERROR, 0)
}

/// One datagram from `fd` into `buf`, without blocking: its length and its
/// sender's credentials (with SO_PASSCRED). Descriptors the sender passed
/// are closed at once: rinit keeps none.
pub fn receive_with_credentials(fd: &OwnedFd, buf: &mut [u8]) -> Result<(usize, Option<libc::ucred>), Errno> {
    // Room for the credentials and, should a sender pass descriptors, a few of them.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero bytes are a valid msghdr; the pointers set below are live.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &raw mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = std::mem::size_of_val(&control);
    let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
    // SAFETY: recvmsg(2) writes at most the lengths given into `buf` and `control`.
    let n = count(unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut message, flags) })?;
    let mut credentials = None;
    // SAFETY: the CMSG_* walk stays within `msg_control`/`msg_controllen`,
    // which recvmsg filled; each header's data is read with its own length.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&raw const message);
        while !header.is_null() {
            let data = libc::CMSG_DATA(header);
            let len =
                ((*header).cmsg_len as usize).saturating_sub((data as usize).saturating_sub(header as usize));
            match ((*header).cmsg_level, (*header).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) if len >= std::mem::size_of::<libc::ucred>() => {
                    credentials = Some(std::ptr::read_unaligned(data.cast::<libc::ucred>()));
                }
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    for i in 0..len.checked_div(std::mem::size_of::<RawFd>()).unwrap_or(0) {
                        libc::close(std::ptr::read_unaligned(data.cast::<RawFd>().add(i)));
                    }
                }
                _ => {}
            }
            header = libc::CMSG_NXTHDR(&raw const message, header);
        }
    }
    Ok((n, credentials))
}

/// The process group of `pid` (an error for a pid that does not exist).
pub fn process_group_of(pid: pid_t) -> Result<pid_t, Errno> {
    // SAFETY: getpgid(2) takes a plain integer.
    Errno::result(unsafe { libc::getpgid(pid) })
}

/// Moves to the directory open at `dir` (rinit's starting directory).
pub fn change_directory_to(dir: RawFd) -> Result<(), Errno> {
    // SAFETY: fchdir reads no memory; a bad descriptor is EBADF.
    Errno::result(unsafe { libc::fchdir(dir) }).map(drop)
}

/// The foreground process group of the terminal on `fd`.
pub fn foreground_group(fd: RawFd) -> Result<pid_t, Errno> {
    // SAFETY: tcgetpgrp(3) takes a plain integer; a non-terminal is an error.
    Errno::result(unsafe { libc::tcgetpgrp(fd) })
}

/// This process's RLIMIT_NOFILE: (soft, hard).
pub fn open_files_limit() -> Result<(u64, u64), Errno> {
    limit_of(libc::RLIMIT_NOFILE).ok_or(Errno::EINVAL)
}

/// This process's limit of `resource`: (soft, hard).
pub fn limit_of(resource: libc::__rlimit_resource_t) -> Option<(u64, u64)> {
    let mut limit = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit64(2) on this process, writing into the live `limit`.
    let rc = unsafe { libc::prlimit64(0, resource, std::ptr::null(), &raw mut limit) };
    (rc == 0).then_some((limit.rlim_cur, limit.rlim_max))
}

/// Sets this process's RLIMIT_NOFILE.
pub fn set_open_files_limit(soft: u64, hard: u64) -> Result<(), Errno> {
    let limit = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: prlimit64(2) on this process, reading the live `limit`.
    let rc = unsafe { libc::prlimit64(0, libc::RLIMIT_NOFILE, &raw const limit, std::ptr::null_mut()) };
    Errno::result(rc).map(drop)
}

/// A timerfd(2) on CLOCK_REALTIME, non-blocking and close-on-exec: the
/// wall clock that schedules follow.
pub fn wall_timer() -> Result<OwnedFd, Errno> {
    let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
    // SAFETY: timerfd_create(2) takes plain integers and returns a new
    // descriptor, which the OwnedFd then owns alone.
    let fd = Errno::result(unsafe { libc::timerfd_create(libc::CLOCK_REALTIME, flags) })?;
    // SAFETY: `fd` is a descriptor just made, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Arms the wall timer `fd` to expire at `at` (seconds since the epoch),
/// or disarms it (None). Armed, it is cancelled when the clock is set
/// (TFD_TIMER_CANCEL_ON_SET): its read then fails with ECANCELED.
pub fn arm_wall_timer(fd: &OwnedFd, at: Option<i64>) -> Result<(), Errno> {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let value = libc::timespec {
        tv_sec: at.map_or(0, |at| at.max(1)),
        tv_nsec: 0,
    };
    let spec = libc::itimerspec {
        it_interval: zero,
        it_value: value,
    };
    let flags = libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET;
    // SAFETY: timerfd_settime(2) reads the live `spec`; the old value is
    // not asked for (null).
    let rc = unsafe { libc::timerfd_settime(fd.as_raw_fd(), flags, &raw const spec, std::ptr::null_mut()) };
    Errno::result(rc).map(drop)
}

/// Gives the memory malloc holds free back to the kernel (glibc's
/// malloc_trim): what reading the configuration used and freed would
/// otherwise stay resident for the container's life.
pub fn release_free_memory() {
    // SAFETY: malloc_trim(3) only returns free heap pages; it touches no
    // live allocation.
    unsafe { libc::malloc_trim(0) };
}

/// Closes every descriptor from `first` up, with close_range(2) (Linux 5.9+).
pub fn close_from(first: RawFd) -> Result<(), Errno> {
    // SAFETY: close_range(2) takes plain integers; the caller owns nothing
    // in that range (see its call).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, c_int::MAX, 0) };
    Errno::result(rc).map(drop)
}

/// Closes descriptor `fd`, which nothing in rinit owns.
pub fn close_unowned(fd: RawFd) {
    // SAFETY: close(2) of a number no OwnedFd of rinit holds (see the calls).
    unsafe { libc::close(fd) };
}

/// Whether descriptor `fd` is open.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries a descriptor number.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// How many bytes the pipe `fd` holds at most.
pub fn pipe_capacity(fd: RawFd) -> Result<usize, Errno> {
    // SAFETY: F_GETPIPE_SZ only queries a descriptor.
    let size = Errno::result(unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) })?;
    Ok(size.unsigned_abs() as usize)
}

/// How many bytes wait to be read in the pipe `fd` (FIONREAD).
pub fn bytes_in_pipe(fd: RawFd) -> Result<usize, Errno> {
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into the live `count`.
    Errno::result(unsafe { libc::ioctl(fd, libc::FIONREAD, &raw mut count) })?;
    Ok(count.unsigned_abs() as usize)
}

/// The file type bits (S_IFMT) of what `fd` is open on.
pub fn file_type(fd: RawFd) -> Result<libc::mode_t, Errno> {
    // SAFETY: all-zero bytes are a valid stat.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat(2) writes into the live `stat`.
    Errno::result(unsafe { libc::fstat(fd, &raw mut stat) })?;
    Ok(stat.st_mode & libc::S_IFMT)
}

/// poll(2) of one descriptor for `events`, at most `millis`: its revents
/// (0 on timeout).
pub fn poll_one(fd: RawFd, events: libc::c_short, millis: c_int) -> Result<libc::c_short, Errno> {
    let mut poll = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one live pollfd, and a count of one.
    Errno::result(unsafe { libc::poll(&raw mut poll, 1, millis) })?;
    Ok(poll.revents)
}

/// Where the first `byte` is in `bytes` (glibc's memchr: the output path's
/// hottest loop).
pub fn find_first(bytes: &[u8], byte: u8) -> Option<usize> {
    // SAFETY: memchr(3) reads at most `bytes.len()` bytes of the live slice.
    let found = unsafe { libc::memchr(bytes.as_ptr().cast(), c_int::from(byte), bytes.len()) };
    (!found.is_null()).then(|| (found as usize).wrapping_sub(bytes.as_ptr() as usize))
}

/// Where the last `byte` is in `bytes`.
pub fn find_last(bytes: &[u8], byte: u8) -> Option<usize> {
    // SAFETY: memrchr(3) reads at most `bytes.len()` bytes of the live slice.
    let found = unsafe { libc::memrchr(bytes.as_ptr().cast(), c_int::from(byte), bytes.len()) };
    (!found.is_null()).then(|| (found as usize).wrapping_sub(bytes.as_ptr() as usize))
}
