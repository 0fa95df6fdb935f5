# strand: one static binary, /strand, for `worker`, `server`, `submit`, … (see README.md).
#   docker build -t strand .
#   docker run --rm -e STRAND_SERVER=nats://nats:4222 strand worker

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /strand ./cmd/strand

# distroless/static: CA certificates and tzdata for TLS to NATS, no shell, runs as nonroot.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /strand /strand
USER nonroot:nonroot
ENTRYPOINT ["/strand"]
CMD ["--help"]
