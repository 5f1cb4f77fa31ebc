# syntax=docker/dockerfile:1
#
# kube-iptables-tailer: one self-contained binary (deno compile) on a distroless base, no shell.
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     -t ghcr.io/kube-iptables-tailer/kube-iptables-tailer:0.1.0 .
#
# The build stage runs on the builder's own platform and cross-compiles for each target
# (deno compile --target), so an arm64 image needs no emulation.

ARG DENO_VERSION=2.9.6
# The release; it must equal src/version.ts unless given (tests/deploy/dockerfile_test.ts checks).
ARG VERSION=0.1.0

FROM --platform=$BUILDPLATFORM denoland/deno:${DENO_VERSION} AS build
ARG TARGETARCH
ARG VERSION
WORKDIR /build
# Dependencies first, so a source change does not fetch them again; --frozen: exactly deno.lock.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY src/ src/
COPY deploy/stamp_version.ts deploy/stamp_version.ts
# The binary reports the version it is tagged with: VERSION goes into src/version.ts (one line;
# a non-SemVer value stops the build).
RUN deno run --no-config --allow-read=src/version.ts --allow-write=src/version.ts \
      deploy/stamp_version.ts "$VERSION"
# Exactly the permission set of deno.json ("daemon": read the log directories, the
# service-account token and the state directory, write only the state directory, network, its
# own variables, hostname and uptime); no -A, no subprocesses, no FFI. No code cache: the binary
# would write one to /tmp on its first run, and the root filesystem is read-only in the
# DaemonSet.
RUN case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-gnu ;; \
      arm64) target=aarch64-unknown-linux-gnu ;; \
      *) echo "unsupported TARGETARCH=$TARGETARCH (amd64 or arm64)" >&2; exit 1 ;; \
    esac \
    && deno compile --frozen -P=daemon --no-code-cache --target "$target" \
      --output /out/kube-iptables-tailer src/main.ts

# glibc and libgcc (what a deno compile binary links against), CA certificates, time zones; no
# shell, no package manager. It runs as user 0, as the original's image did: the host's logs and
# the state directory are root's (journal files root:systemd-journal 0640, Debian's kern.log
# syslog:adm 0640), and the original's manifests set no runAsUser, so as 65532 (the nonroot
# variant's default) they would read nothing after switching images. deploy/daemonset.yaml also
# says user 0 and drops every capability.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION
ARG REVISION=""
LABEL org.opencontainers.image.title="kube-iptables-tailer" \
      org.opencontainers.image.description="Turns packets dropped by iptables/nftables LOG rules into Kubernetes Events on the Pods involved, with Prometheus metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/kube-iptables-tailer/kube-iptables-tailer" \
      org.opencontainers.image.url="https://github.com/kube-iptables-tailer/kube-iptables-tailer" \
      org.opencontainers.image.documentation="https://github.com/kube-iptables-tailer/kube-iptables-tailer#readme" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
# At the original's path, so its manifests (command: /kube-iptables-tailer) keep working.
COPY --from=build --chown=0:0 --chmod=0555 /out/kube-iptables-tailer /kube-iptables-tailer
# Lets Deno size V8's heap from the container's memory limit rather than the node's memory (as
# the official Deno images do).
ENV DENO_USE_CGROUPS=1
USER 0:0
EXPOSE 9090/tcp
ENTRYPOINT ["/kube-iptables-tailer"]
