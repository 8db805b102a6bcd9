//! HTTP request heads from anyone who can reach the port: never panic; a
//! request is found only in a whole head, its length within the input and
//! its path an origin-form path without its query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rinit_fuzz::http_request::{parse, Parsed};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Parsed::Request(request, length) => {
            assert!(length <= data.len());
            assert!(data[..length].ends_with(b"\n\n") || data[..length].ends_with(b"\n\r\n"));
            assert!(request.path.starts_with('/') && !request.path.contains('?'));
            // What follows the head does not change it.
            let mut longer = data[..length].to_vec();
            longer.extend_from_slice(b"GET /x HTTP/1.1\r\n");
            assert_eq!(parse(&longer), Parsed::Request(request, length));
        }
        Parsed::Bad(status) => assert!(status.len() > 4 && status.as_bytes()[3] == b' '),
        Parsed::Incomplete => {}
    }
});
