"""A small generated-style stack for the engine tests, built only from the local base image (no apt,
no registry): ``api`` (uid 990, HTTP JSON on 8080, a named volume, a file secret) and ``front``
(HTTP on 80, published on the host, depends on api). Same layout as `migrate generate` writes:
per-service build contexts with multi-stage Dockerfiles and .dockerignore, compose.yaml with build
contexts, image tags, named volumes, secrets as ./secrets/<name>.txt."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

SECRET = "Tk-fixture-9f3c1e77"

SERVER = r'''
use strict; use warnings; use IO::Socket::INET;
my ($port, $mode) = @ARGV;
open(my $t, "<", "/run/secrets/api_token") or die "no secret";
my $srv = IO::Socket::INET->new(LocalPort => $port, Listen => 16, ReuseAddr => 1) or die "listen: $!";
$| = 1; print "listening on $port\n";
while (my $c = $srv->accept) {
  my $req = <$c> // ""; while (my $l = <$c>) { last if $l =~ /^\r?\n$/ }
  my ($path) = $req =~ m{^GET (\S+)};
  my ($code, $type, $body) = (404, "application/json", '{"error":"not found"}');
  if ($mode eq "api" && defined $path && $path eq "/items") {
    open(my $f, "<", "/var/lib/api/items.txt"); my @i = map { chomp; "\"$_\"" } <$f>;
    ($code, $body) = (200, '{"items":[' . join(",", @i) . '],"count":' . scalar(@i) . '}');
  } elsif (defined $path && $path eq "/") {
    ($code, $type, $body) = (200, "text/html", "<html><body>front</body></html>\n");
  }
  print $c "HTTP/1.0 $code X\r\nContent-Type: $type\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
  close $c;
}
'''

DOCKERFILE = """\
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${{BASE_IMAGE}} AS prepare
COPY server.pl /out/opt/{name}/server.pl
RUN chmod 0755 /out/opt/{name}/server.pl && mkdir -p /out/var/lib/api && chown {uid}:{uid} /out/var/lib/api

FROM ${{BASE_IMAGE}}
ARG BASE_IMAGE
RUN groupadd -g {uid} {name} && useradd -u {uid} -g {uid} -M -d /nonexistent -s /usr/sbin/nologin {name}
COPY --from=prepare /out/ /
LABEL org.opencontainers.image.title="{name}" com.example.docker.source-vm="fixture-vm"
USER {uid}:{uid}
EXPOSE {port}
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=10 CMD bash -c '</dev/tcp/127.0.0.1/{port}'
CMD ["perl", "/opt/{name}/server.pl", "{port}", "{name}"]
"""


def make_stack(outdir: Path, *, project: str, published: int = 18081, broken: bool = False) -> Path:
    for name, uid, port in (("api", 990, 8080), ("front", 991, 8081)):
        ctx = outdir / name
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / "server.pl").write_text(SERVER)
        df = DOCKERFILE.format(name=name, uid=uid, port=port)
        if broken and name == "front":
            df = df.replace("RUN groupadd", "RUN echo 'about to fail' && false && groupadd")
        (ctx / "Dockerfile").write_text(df)
        (ctx / ".dockerignore").write_text("*.log\n")
    compose = {
        "name": project,
        "services": {
            "api": {"image": f"{project}-api:latest", "build": {"context": "./api", "labels": {
                "com.example.docker.service": "api"}}, "user": "990:990",
                "volumes": [{"type": "volume", "source": "api-data", "target": "/var/lib/api"}],
                "secrets": ["api_token"], "networks": ["backend"],
                "healthcheck": {"test": ["CMD", "bash", "-c", "</dev/tcp/127.0.0.1/8080"], "interval": "2s",
                                "timeout": "2s", "retries": 15, "start_period": "5s"},
                "labels": {"com.example.docker.source-vm": "fixture-vm"}},
            "front": {"image": f"{project}-front:latest", "build": {"context": "./front"}, "user": "991:991",
                      "ports": [{"target": 8081, "published": published, "protocol": "tcp"}],
                      "secrets": ["api_token"], "networks": ["backend"],
                      "depends_on": ["api"],
                      "healthcheck": {"test": ["CMD", "bash", "-c", "</dev/tcp/127.0.0.1/8081"], "interval": "2s",
                                      "timeout": "2s", "retries": 15, "start_period": "5s"}},
        },
        "networks": {"backend": {"labels": {"com.example.docker.source-vm": "fixture-vm"}}},
        "volumes": {"api-data": {"labels": {"com.example.docker.source-vm": "fixture-vm"}}},
        "secrets": {"api_token": {"file": "./secrets/api_token.txt"}},
    }
    (outdir / "compose.yaml").write_text(yaml.safe_dump(compose, sort_keys=False))
    (outdir / "README.md").write_text(textwrap.dedent("fixture stack\n"))
    return outdir
