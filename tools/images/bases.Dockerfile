# Stand-in base images, built offline by tools/images/bases.sh (which copies
# this file next to the root filesystem tarballs it makes: the build context).
# No syntax line: BuildKit's built-in Dockerfile frontend builds this, since
# the docker/dockerfile image is one of the images made here.

# golang:1.26-bookworm: Debian bookworm, gcc, Go in /usr/local/go.
FROM scratch AS golang
ADD builder-rootfs.tar /
ARG GOLANG_VERSION
ENV GOLANG_VERSION=${GOLANG_VERSION} \
    GOTOOLCHAIN=local \
    GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
CMD ["bash"]

# distroless/static-debian12:nonroot
FROM scratch AS static
ADD runtime-common.tar /
USER 65532:65532
WORKDIR /home/nonroot

# distroless/base-debian12:nonroot: static plus glibc for the target.
FROM static AS base
ARG TARGETARCH
ADD glibc-${TARGETARCH}.tar /

# docker/dockerfile:1.7: BuildKit's Dockerfile frontend (a gateway image).
FROM scratch AS frontend
ADD frontend-rootfs.tar /
LABEL moby.buildkit.frontend.network.none="true" \
      moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
ENTRYPOINT ["/bin/dockerfile-frontend"]
