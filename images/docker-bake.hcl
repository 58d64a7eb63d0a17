# docker buildx bake -f images/docker-bake.hcl [target...]   (or: make images)
# One target per service, each for linux/amd64, linux/arm64 and linux/arm/v7.
# Push with --push (or set IMAGES_BAKE_FLAGS=--push for make images).

variable "REGISTRY" { default = "ghcr.io/sensornode" }
variable "TAG" { default = "dev" }
variable "VERSION" { default = "dev" }
variable "REVISION" { default = "unknown" }
variable "CREATED" { default = "" }
variable "PLATFORMS" { default = "linux/amd64,linux/arm64,linux/arm/v7" }

# Base images: the upstream ones (by tag; pin a digest with e.g.
# GO_IMAGE=golang:1.26-bookworm@sha256:...). The Dockerfile's defaults are the
# same; naming them here makes `docker buildx bake --print` show them.
variable "GO_IMAGE" { default = "golang:1.26-bookworm" }
variable "RUNTIME_STATIC" { default = "gcr.io/distroless/static-debian12:nonroot" }
variable "RUNTIME_GLIBC" { default = "gcr.io/distroless/base-debian12:nonroot" }
# The Dockerfile frontend of the `# syntax=` line of go-service.Dockerfile.
variable "DOCKERFILE_SYNTAX" { default = "docker/dockerfile:1.7" }

# BASE_REGISTRY, when set, takes every base image above from that registry
# under its upstream path without registry host or digest:
# golang:1.26-bookworm -> $BASE_REGISTRY/library/golang:1.26-bookworm,
# gcr.io/distroless/static-debian12:nonroot ->
# $BASE_REGISTRY/distroless/static-debian12:nonroot. make images sets it to
# the stand-ins tools/images/bases.sh builds offline (no public registry is
# reachable where this is developed); users leave it empty.
variable "BASE_REGISTRY" { default = "" }

function "base" {
  params = [ref]
  result = BASE_REGISTRY == "" ? ref : "${BASE_REGISTRY}/${base_path(split("@", ref)[0])}"
}

# base_path("gcr.io/distroless/x:t") = "distroless/x:t", base_path("golang:t") = "library/golang:t".
function "base_path" {
  params = [ref]
  result = length(regexall("^[^/]*[.:][^/]*/", ref)) > 0 ? regex_replace(ref, "^[^/]*/", "") : (length(regexall("/", ref)) > 0 ? ref : "library/${ref}")
}

group "default" {
  targets = ["camera-producer", "temp-producer", "edge-forwarder", "cloud-ingest-hdfs", "master-watcher", "viewer", "node-agent"]
}

target "_service" {
  context    = "."
  dockerfile = "images/go-service.Dockerfile"
  platforms  = split(",", PLATFORMS)
  args = {
    GO_IMAGE        = base(GO_IMAGE)
    RUNTIME_STATIC  = base(RUNTIME_STATIC)
    RUNTIME_GLIBC   = base(RUNTIME_GLIBC)
    BUILDKIT_SYNTAX = base(DOCKERFILE_SYNTAX)
    # An image index even for one platform (make images-smoke builds some
    # services for linux/amd64 only): every tag is resolved the same way.
    BUILDKIT_MULTI_PLATFORM = "1"
  }
}

# One target per service, named after it: camera-producer, ..., and
# node-agent (camera-producer, temp-producer and master-watcher in one
# process, the combined per-node mode; services/node-agent/README.md).
target "service" {
  name     = service
  matrix   = { service = ["camera-producer", "temp-producer", "edge-forwarder", "cloud-ingest-hdfs", "master-watcher", "viewer", "node-agent"] }
  inherits = ["_service"]
  args     = { SERVICE = service, VERSION = VERSION, REVISION = REVISION, CREATED = CREATED }
  tags     = ["${REGISTRY}/${service}:${TAG}"]
}
