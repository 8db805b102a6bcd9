# rinit in an image of its own that holds one file, /rinit: what your
# images copy it from. Build it from the repository's root:
#
#   docker build --target rinit -t rinit .
#
# then, in your Dockerfile:
#
#   COPY --from=rinit /rinit /sbin/rinit
#
# Stage "build" makes the static binary (static glibc, static-pie); stage
# "rinit" is FROM scratch with nothing but that file.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# .cargo/config.toml selects x86_64-unknown-linux-gnu with +crt-static.
RUN cargo build --release --locked \
    && install -m 0755 target/x86_64-unknown-linux-gnu/release/rinit /rinit

FROM scratch AS rinit
COPY --from=build /rinit /rinit
