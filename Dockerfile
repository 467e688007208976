# mlreg-action: one static Go binary on an empty base image.
#
# The release workflow builds this very file for linux/amd64 and linux/arm64
# (goreleaser, .goreleaser.yaml), and CI builds it with buildah against local
# stand-in bases and runs the image the way the runner does
# (scripts/container-test.sh, `make test-container`).

# The builder is pinned by digest. It is an ARG, not a literal FROM, because a
# stand-in image built offline can never match a registry digest: CI passes
# --build-arg GO_IMAGE=<local stand-in>; everyone else gets this pinned image.
# To move it: take the new tag's index digest, e.g.
#   docker buildx imagetools inspect golang:1.26.x --format '{{json .Manifest.Digest}}'
ARG GO_IMAGE=golang:1.26.8@sha256:6c2a5538f964f1c82f97ad14988bf05de100d922d159d0e398b54c7b0ca0c6c9

# The build stage runs on the build machine's own platform and cross-compiles,
# so the arm64 image needs no emulation.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY main.go ./
COPY internal/ ./internal/
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/mlreg-action .

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/mlreg-action /mlreg-action
# No USER, on purpose. GitHub runs a Docker action as the image's default user
# and requires that to be root ("Dockerfile support for GitHub Actions", USER):
# /github/workspace and /github/file_commands are owned by the runner's uid 1001,
# so a non-root user could not write GITHUB_OUTPUT, the job summary or the
# report. CI asserts that the image config has no user.
ENTRYPOINT ["/mlreg-action"]
