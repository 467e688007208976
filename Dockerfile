# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on scratch with CA certificates.
ARG GO_IMAGE=golang:1.26
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/mlreg-action .

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/mlreg-action /mlreg-action
# No USER: GitHub runs Docker actions as the default (root) user; another user
# cannot write to the runner-owned /github/file_commands and /github/workspace.
ENTRYPOINT ["/mlreg-action"]
