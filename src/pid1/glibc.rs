//! Two C functions of glibc that rinit defines itself, so that the static
//! link leaves out glibc's message translation. glibc's `__assert_fail`
//! (referenced by its own start-up code) and `strerror_r` (what std's
//! `io::Error` prints with) both translate their text through gettext, and
//! gettext brings iconv, the locale loader and the static `dlopen`: about a
//! sixth of the binary for messages that only ever exist in English here (a
//! container has no locale catalogues; rinit never calls setlocale). A
//! symbol the program defines is never looked for in libc.a, so these
//! replace glibc's in the static link; the texts are glibc's own
//! untranslated ones (`strerrordesc_np`). docs/performance.md, "Where the
//! bytes go", has the measure.

use nix::libc::{self, c_char, c_int, c_uint, size_t};

extern "C" {
    /// glibc ≥ 2.32: the untranslated description of an errno value, or
    /// NULL for an unknown one. Reads a constant table.
    fn strerrordesc_np(errnum: c_int) -> *const c_char;
}

/// The XSI `strerror_r` (the one std calls): `errnum`'s description into
/// `buf`, NUL-terminated; EINVAL for an unknown number (the text then says
/// "Unknown error N", as glibc's), ERANGE when `buf` is too small (the text
/// is cut).
///
/// # Safety
/// `buf` must be valid for `buflen` bytes of writing (C's contract).
#[no_mangle]
pub unsafe extern "C" fn __xpg_strerror_r(errnum: c_int, buf: *mut c_char, buflen: size_t) -> c_int {
    // SAFETY: strerrordesc_np takes any int and returns NULL or a pointer to
    // a static NUL-terminated string.
    let desc = unsafe { strerrordesc_np(errnum) };
    let unknown;
    let (text, status): (&[u8], c_int) = if desc.is_null() {
        unknown = format!("Unknown error {errnum}");
        (unknown.as_bytes(), libc::EINVAL)
    } else {
        // SAFETY: non-NULL: a static NUL-terminated string of glibc's table.
        (unsafe { std::ffi::CStr::from_ptr(desc) }.to_bytes(), 0)
    };
    if buf.is_null() || buflen == 0 {
        return libc::ERANGE;
    }
    let room = buflen.saturating_sub(1);
    let copied = text.len().min(room);
    // SAFETY: the caller gives `buflen` writable bytes at `buf`; `copied` +
    // 1 ≤ `buflen`, and `text` does not overlap `buf` (a static or our own string).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), copied);
        *buf.add(copied) = 0;
    }
    if copied < text.len() {
        libc::ERANGE
    } else {
        status
    }
}

/// What a failed `assert` inside glibc calls (a corrupted heap, say): one
/// line on stderr naming the assertion, then abort, as glibc's does.
///
/// # Safety
/// Each pointer is NULL or a NUL-terminated string (C's contract).
#[no_mangle]
pub unsafe extern "C" fn __assert_fail(
    assertion: *const c_char,
    file: *const c_char,
    line: c_uint,
    function: *const c_char,
) -> ! {
    let text = |p: *const c_char| -> &[u8] {
        if p.is_null() {
            b"?"
        } else {
            // SAFETY: the caller's contract: NUL-terminated.
            unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes()
        }
    };
    let mut message = Vec::with_capacity(160);
    message.extend_from_slice(b"rinit: glibc: ");
    message.extend_from_slice(text(file));
    message.extend_from_slice(format!(":{line}: ").as_bytes());
    message.extend_from_slice(text(function));
    message.extend_from_slice(b": assertion failed: ");
    message.extend_from_slice(text(assertion));
    message.push(b'\n');
    // SAFETY: write(2) of our own buffer; the result is ignored, abort follows.
    unsafe { libc::write(2, message.as_ptr().cast(), message.len()) };
    // SAFETY: abort takes no arguments and does not return.
    unsafe { libc::abort() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn io_errors_print_glibcs_untranslated_texts() {
        let not_found = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(not_found.to_string(), "No such file or directory (os error 2)");
        let unknown = std::io::Error::from_raw_os_error(4000);
        assert_eq!(unknown.to_string(), "Unknown error 4000 (os error 4000)");
    }

    #[test]
    fn a_short_buffer_is_cut_and_says_erange() {
        let mut buf = [0x55 as libc::c_char; 5];
        // SAFETY: a 5-byte buffer, given as 5 bytes.
        let status = unsafe { super::__xpg_strerror_r(libc::EPERM, buf.as_mut_ptr(), buf.len()) };
        assert_eq!(status, libc::ERANGE);
        let got: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
        assert_eq!(got, b"Oper\0");
        // SAFETY: the same buffer, given as 0 bytes.
        let status = unsafe { super::__xpg_strerror_r(libc::EPERM, buf.as_mut_ptr(), 0) };
        assert_eq!(status, libc::ERANGE);
    }

    use nix::libc;
}
