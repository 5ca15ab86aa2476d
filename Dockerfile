# One image for every tier of vacunometro; the subcommand is chosen by the container args:
#   ingest | realtime | grpc-server | worker redis | worker pubsub   (default: ingest)
# Static Go binary (CGO_ENABLED=0) on distroless static, running as nonroot (65532), with the
# built dashboard at /app/webapp/dist (the default --web path, relative to WORKDIR /app).
#   docker build -t vacunometro:dev .
#   docker run --rm -p 8080:8080 -e REDIS_URL=... vacunometro:dev ingest
# deploy/check builds the binary with the same command and flags and runs it (go test there).

FROM node:22-bookworm-slim AS web
WORKDIR /src/webapp
COPY webapp/package.json webapp/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY webapp/ ./
RUN npm run build

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION stamps `vacunometro version` and the vacunometro_build_info metric (Cloud Build passes
# --build-arg=VERSION=_VERSION).
ARG VERSION=dev
# -tags noembed: the image carries no embedded test services (FerretDB, miniredis, pstest; see
# internal/embedded): `vacunometro up` there asks for real ones.
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -tags noembed -ldflags="-s -w -X github.com/vacunometro/vacunometro/internal/app.Version=${VERSION}" -o /out/vacunometro ./cmd/vacunometro

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
# OCI image annotations (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
LABEL org.opencontainers.image.title="vacunometro" \
      org.opencontainers.image.description="Real-time COVID-19 vaccination tracker for Guatemala: every tier in one binary" \
      org.opencontainers.image.version="${VERSION}"
WORKDIR /app
COPY --from=build /out/vacunometro /app/vacunometro
COPY --from=web /src/webapp/dist /app/webapp/dist
USER nonroot:nonroot
# 8080: HTTP ($PORT) for ingest and realtime; 8081: health and metrics of grpc-server and workers;
# 50051: gRPC.
EXPOSE 8080 8081 50051
ENTRYPOINT ["/app/vacunometro"]
CMD ["ingest"]
