"""Credentials and database connections in the configuration files of the applications themselves.

A PHP site, a Spring Boot jar or a Django project keeps its database password in its own files, not in
the unit or the web server's configuration: PHP ``define('DB_PASSWORD', '...')`` and config arrays
(``'password' => '...'``), ``wp-config.php``, ``new mysqli("localhost", ...)`` / ``mysqli_connect`` /
PDO DSNs, ``.env`` files, Java ``application.properties``/``application.yml``
(``spring.datasource.*``), Django ``settings.py`` (``DATABASES``, ``SECRET_KEY``). Every password becomes
a Secret (redacted at the source, evidence = file + key), every database target a Connection so the
graph gets its edge. A MySQL client given the host ``localhost`` talks to the server's Unix socket, not
TCP: such a connection carries ``unix_socket`` (the server's socket from the mysql analyzer, else the
client default), so the plan can keep that path working in the stack.

Where it looks: the web roots the web server analyzers found, the directories of application services
(working directory, script), and Debian's /etc/wordpress. Walks are bounded (entries, file size, file
count); one unreadable file is one Unknown and the rest stands.
"""

from __future__ import annotations

import ast
import posixpath
import re

import yaml

from migrate.analyzers._support import SecretSink, config_file, digits_port, parse_env_file, read_text, unknown
from migrate.analyzers.base import REDACTED, Analyzer, Context, NotApplicable, looks_secret_key
from migrate.errors import GuestPathError
from migrate.model.inventory import Connection, Findings, Service

MAX_WALK_ENTRIES = 20000
MAX_FILES = 400
MAX_FILE_BYTES = 1024 * 1024
SKIP_DIRS = {"node_modules", ".git", "vendor", "__pycache__", "site-packages", "dist-packages", ".venv", "venv",
             "cache", "wp-includes", "wp-admin"}
EXTRA_ROOTS = ("/etc/wordpress",)
MYSQL_DEFAULT_SOCKET = "/run/mysqld/mysqld.sock"
CONFIG_NAMES = re.compile(r"^(wp-config|config|configuration|settings|local_settings|database|db|conf|env)\b"
                          r"|^\.env|^application", re.I)
PHP_SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api_?key|_key$|salt$)", re.I)
STR = r"""(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")"""
PHP_DEFINE = re.compile(rf"""\bdefine\s*\(\s*{STR}\s*,\s*(?:{STR}|(\d+))\s*\)""")
PHP_ARRAY_ITEM = re.compile(rf"""{STR}\s*=>\s*{STR}""")
PHP_ASSIGN = re.compile(rf"""\$(\w+)\s*=\s*{STR}\s*;""")
PHP_MYSQLI = re.compile(r"""(?:new\s+mysqli|mysqli_connect|mysqli_real_connect)\s*\(([^;]*?)\)\s*(?:or\b|;|\))""",
                        re.I | re.S)
PHP_CACHE_CLIENT = re.compile(r"->\s*(addServer|p?connect)\s*\(([^;)]*)\)", re.I)
PDO_DSN = re.compile(r"""["'](mysql|pgsql|sqlite|sqlsrv|oci):([^"']*)["']""")
DJANGO_ENGINES = {"postgresql": "postgresql", "postgresql_psycopg2": "postgresql", "mysql": "mysql",
                  "oracle": "oracle"}
ENV_DB_SCHEMES = {"mysql": "mysql", "mariadb": "mysql", "pgsql": "postgresql", "postgres": "postgresql",
                  "postgresql": "postgresql"}


def _define(m: re.Match) -> tuple[str, str]:
    """(name, value) of a define() whose value is a string or an integer literal."""
    return _php_str(m, 1), (m.group(5) if m.group(5) is not None else _php_str(m, 3))


def _php_str(m: re.Match, first: int) -> str:
    raw = m.group(first) if m.group(first) is not None else m.group(first + 1)
    return re.sub(r"\\(.)", r"\1", raw or "")


class AppConfigAnalyzer(Analyzer):
    name = "app_config"
    requires = ("systemd", "users_groups", "nginx", "apache", "php_fpm", "tomcat", "mysql", "app")

    def run(self, ctx: Context) -> Findings:
        roots = self._roots(ctx)
        if not roots:
            raise NotApplicable("no web roots, application directories or /etc/wordpress")
        f = Findings()
        self.ctx, self.f = ctx, f
        self.mysql_socket = next((p.path for p in ctx.findings("mysql").ports if p.proto == "unix" and p.path),
                                 MYSQL_DEFAULT_SOCKET)
        seen: set[str] = set()
        for root, service in roots:
            # configuration files by their usual names first, shallow before deep: a large site still has
            # its wp-config.php / config.php / .env read before the budget runs out
            files = sorted((p for p in self._files(root) if p not in seen),
                           key=lambda p: (not CONFIG_NAMES.search(posixpath.basename(p)), p.count("/"), p))
            if len(files) > MAX_FILES:
                f.unknowns.append(unknown(self, root, f"{len(files)} candidate files: only the first {MAX_FILES} "
                                                      "(configuration names first) are read"))
                files = files[:MAX_FILES]
            # PHP constants and variables are global once a file is required: config.php's DB_PASSWORD is
            # what index.php passes to mysqli, so the whole root's definitions are known to each file
            self.php_globals = self._php_globals([p for p in files if p.endswith(".php")])
            for path in files:
                seen.add(path)
                self._file(path, service)
        if not f.configs and not f.unknowns:
            raise NotApplicable("no application configuration files")
        return f

    # -- where -------------------------------------------------------------------------------------------
    def _roots(self, ctx: Context) -> list[tuple[str, str | None]]:
        """(directory, the service whose code lives there). PHP in a web root runs in the web server when
        it embeds PHP (mod_php), else in the PHP-FPM service."""
        services: dict[str, Service] = {}
        for name in ("systemd", "nginx", "apache", "php_fpm", "tomcat", "app"):
            for s in ctx.findings(name).services:
                services.setdefault(s.name, s)
                if s.role:
                    services[s.name] = s
        fpm = next((s.name for s in ctx.findings("php_fpm").services), None)
        out: list[tuple[str, str | None]] = []
        for analyzer in ("nginx", "apache"):
            svc_php = {s.name for s in ctx.findings(analyzer).services if _embeds_php(s)}
            for pp in ctx.findings(analyzer).persistent_paths:
                if pp.kind == "webroot" and ctx.rootfs.is_dir(pp.path):
                    owner = pp.service if pp.service in svc_php or fpm is None else fpm
                    out.append((pp.path, owner))
                    parent = posixpath.dirname(pp.path)
                    if parent not in ("/", "/var", "/srv", "/var/www") and ctx.rootfs.is_dir(parent):
                        # the project directory around a document root: Laravel/Symfony keep .env beside
                        # public/, careful sites keep config.php out of the served tree (read flat)
                        out.append((parent + "/", owner))
        for s in ctx.findings("app").services:
            base = services.get(s.name)
            wd = base.working_directory if base else None
            for d in (wd, posixpath.dirname(s.script) if s.script and s.script.startswith("/") else None):
                if d and d != "/" and ctx.rootfs.is_dir(d):
                    out.append((d, s.name))
        php = {s.name for a in ("nginx", "apache") for s in ctx.findings(a).services
               if _embeds_php(s)} | ({fpm} if fpm else set())
        for d in EXTRA_ROOTS:
            if ctx.rootfs.is_dir(d):
                owner = next((r[1] for r in out if "wordpress" in r[0]), None)
                out.append((d, owner or (next(iter(php)) if len(php) == 1 else None)))
        return out

    def _files(self, root: str):
        """Candidate files below ``root``; a root written with a trailing slash is read flat (its own
        files only)."""
        fs = self.ctx.rootfs
        if root.endswith("/") and root != "/":
            for path in fs.iterdir(root.rstrip("/"))[:MAX_WALK_ENTRIES]:
                st = fs.lstat(path)
                if st is not None and st.kind == "file" and st.size <= MAX_FILE_BYTES and self._format(path):
                    yield path
            return
        try:
            for path, st in fs.walk(root, max_entries=MAX_WALK_ENTRIES):
                if st.kind != "file" or st.size > MAX_FILE_BYTES:
                    continue
                parts = path[len(root):].split("/")
                if any(p in SKIP_DIRS for p in parts[:-1]):
                    continue
                if self._format(path):
                    yield path
        except GuestPathError as exc:
            self.f.unknowns.append(unknown(self, root, f"not walked further: {exc.message}"))

    @staticmethod
    def _format(path: str) -> str | None:
        base = posixpath.basename(path)
        if base.endswith(".php"):
            return "php"
        if base == ".env" or base.startswith(".env.") and not base.endswith((".example", ".sample", ".dist")):
            return "dotenv"
        if re.match(r"^application(-\w+)?\.properties$", base):
            return "properties"
        if re.match(r"^application(-\w+)?\.ya?ml$", base):
            return "yaml"
        if base in ("settings.py", "local_settings.py", "production.py") or path.endswith("/settings/base.py"):
            return "django"
        return None

    # -- one file ------------------------------------------------------------------------------------------
    def _file(self, path: str, service: str | None) -> None:
        text = read_text(self.ctx, self, path, self.f, max_bytes=MAX_FILE_BYTES)
        if text is None:
            return
        fmt = self._format(path)
        sink = SecretSink(self.ctx, self, self.f, service)
        before = (len(self.f.secrets), len(self.f.connections))
        try:
            {"php": self._php, "dotenv": self._dotenv, "properties": self._properties, "yaml": self._yaml,
             "django": self._django}[fmt](text, path, sink)  # type: ignore[index]
        except (ValueError, SyntaxError, RecursionError, yaml.YAMLError) as exc:
            self.f.unknowns.append(unknown(self, path, f"{fmt} file not understood: {type(exc).__name__}"))
            return
        if (len(self.f.secrets), len(self.f.connections)) != before:
            self.f.configs.append(config_file(self.ctx, self, path, service=service, kind=f"app-config-{fmt}",
                                              content=text, contains_secrets=len(self.f.secrets) > before[0]))

    def _connection(self, sink: SecretSink, path: str, *, scheme: str, host: str | None, port: int | None,
                    database: str | None, user: str | None, password: str | None, via: str,
                    socket: str | None = None, secret_id: str | None = None) -> None:
        host = (host or "localhost").strip()
        if scheme == "mysql" and ":" in host and not host.startswith("["):
            host, _, rest = host.partition(":")  # WordPress DB_HOST "localhost:3307" or "localhost:/run/x.sock"
            if rest.startswith("/"):
                socket = rest
            else:
                port = digits_port(self, self.f, rest, path=path, what="the port") or port
        if scheme == "mysql" and host == "localhost" and socket is None:
            socket = self.mysql_socket  # libmysqlclient/mysqlnd: "localhost" means the Unix socket
        port = port or {"mysql": 3306, "postgresql": 5432, "oracle": 1521}.get(scheme)
        url = f"{scheme}://{user + ':' + REDACTED + '@' if user and password else (user + '@' if user else '')}" \
              f"{host}{':' + str(port) if port else ''}/{database or ''}"
        if password and secret_id is None:
            secret_id = sink.secret(password, key=via, kind="password", redacted=url, path=path).id
        self.f.connections.append(Connection(
            from_service=sink.service, scheme=scheme, host=host, port=port, database=database or None, username=user,
            url_redacted=url, via=via, secret_id=secret_id, unix_socket=socket, evidence=self.evidence(path)))

    # -- PHP -------------------------------------------------------------------------------------------------
    def _php_globals(self, paths: list[str]) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
        """(constant → (value, file), variable → (value, file)) over the PHP files of one root."""
        defines: dict[str, tuple[str, str]] = {}
        variables: dict[str, tuple[str, str]] = {}
        for path in paths:
            text = read_text(self.ctx, self, path, Findings(), max_bytes=MAX_FILE_BYTES) or ""
            code = _php_code(text)
            for m in PHP_DEFINE.finditer(code):
                name, value = _define(m)
                defines.setdefault(name, (value, path))
            for m in PHP_ASSIGN.finditer(code):
                variables.setdefault(m.group(1), (_php_str(m, 2), path))
        return defines, variables

    def _php(self, text: str, path: str, sink: SecretSink) -> None:
        code = _php_code(text)
        own_defines = dict(_define(m) for m in PHP_DEFINE.finditer(code))
        own_variables = {m.group(1): _php_str(m, 2) for m in PHP_ASSIGN.finditer(code)}
        def_origin = {**self.php_globals[0], **{k: (v, path) for k, v in own_defines.items()}}
        var_origin = {**self.php_globals[1], **{k: (v, path) for k, v in own_variables.items()}}
        defines = {k: v for k, (v, _) in def_origin.items()}
        variables = {k: v for k, (v, _) in var_origin.items()}
        for key, value in own_defines.items():
            if value and PHP_SECRET_KEY.search(key):
                # WordPress's AUTH_KEY ... NONCE_SALT sign the login cookies: secrets, though not passwords
                kind = "signing-key" if re.search(r"(_KEY|_SALT)$", key) and "PASS" not in key else "password"
                sink.secret(value, key=key, kind=kind, redacted=REDACTED, path=path)
        items: dict[str, str] = {}
        for m in PHP_ARRAY_ITEM.finditer(code):
            key, value = _php_str(m, 1), _php_str(m, 3)
            items.setdefault(key.lower(), value)
            if value and re.fullmatch(r"(db_?)?pass(word|wd)?|secret|api_?key|token", key, re.I):
                sink.secret(value, key=key, kind="password", redacted=REDACTED, path=path)
        for name, value in own_variables.items():
            if value and re.fullmatch(r"\w*(pass(word|wd)?|pwd)\w*", name, re.I):
                sink.secret(value, key=f"${name}", kind="password", redacted=REDACTED, path=path)
        def arg(expr: str) -> str | None:
            expr = expr.strip()
            m = re.fullmatch(STR, expr)
            if m:
                return _php_str(m, 1)
            if re.fullmatch(r"\$\w+", expr):
                return variables.get(expr[1:])
            if re.fullmatch(r"\w+", expr):
                return defines.get(expr) if expr not in ("null", "NULL") else None
            return None

        def password_secret(expr: str) -> str | None:
            """The Secret of a password passed by name: recorded at the file and key that define it (the
            same record the definition loops make), so the connection points at where the value is."""
            expr = expr.strip()
            if re.fullmatch(r"\$\w+", expr) and expr[1:] in var_origin:
                (value, where), key = var_origin[expr[1:]], expr
            elif re.fullmatch(r"\w+", expr) and expr in def_origin:
                (value, where), key = def_origin[expr], expr
            else:
                return None
            if not value:
                return None
            return sink.secret(value, key=key, kind="password", redacted=REDACTED, path=where).id

        if "DB_HOST" in own_defines and "DB_NAME" in own_defines and (posixpath.basename(path) == "wp-config.php"
                                                             or path.startswith("/etc/wordpress/")):
            self._connection(sink, path, scheme="mysql", host=defines["DB_HOST"], port=None,
                             database=defines.get("DB_NAME"), user=defines.get("DB_USER"),
                             password=defines.get("DB_PASSWORD"), via="DB_HOST (WordPress)",
                             secret_id=password_secret("DB_PASSWORD"))

        for m in PHP_MYSQLI.finditer(code):
            args = [a for a in re.split(r",(?=(?:[^'\"]|'[^']*'|\"[^\"]*\")*$)", m.group(1))]
            if args and args[0].strip().startswith("$") and "mysqli_real_connect" in m.group(0):
                args = args[1:]  # the link object
            vals = [arg(a) for a in args] + [None] * 6
            port = digits_port(self, self.f, vals[4], path=path, what="the port")
            self._connection(sink, path, scheme="mysql", host=vals[0], port=port, database=vals[3], user=vals[1],
                             password=vals[2], via=m.group(0).split("(")[0].strip(), socket=vals[5],
                             secret_id=password_secret(args[2]) if len(args) > 2 else None)
        for m in PHP_CACHE_CLIENT.finditer(code):
            args = re.split(r",(?=(?:[^'\"]|'[^']*'|\"[^\"]*\")*$)", m.group(2))
            host = arg(args[0]) if args else None
            port_s = arg(args[1]) if len(args) > 1 else None
            scheme = "memcached" if m.group(1).lower() == "addserver" else "redis"
            if host and "new redis" not in code.lower() and scheme == "redis":
                continue
            if host:
                port = (digits_port(self, self.f, port_s, path=path, what="the port")
                        or {"memcached": 11211, "redis": 6379}[scheme])
                self.f.connections.append(Connection(
                    from_service=sink.service, scheme=scheme, host=host, port=port,
                    url_redacted=f"{scheme}://{host}:{port}", via=f"->{m.group(1)}()", evidence=self.evidence(path)))
        for m in PDO_DSN.finditer(code):
            kind, params = m.group(1), dict(p.split("=", 1) for p in m.group(2).split(";") if "=" in p)
            if kind not in ("mysql", "pgsql"):
                continue
            scheme = ENV_DB_SCHEMES[kind]
            port = params.get("port", "")
            # a config array holding the DSN usually holds the credentials beside it ('user' => ..., 'password' => ...)
            user = params.get("user") or next((items[k] for k in ("user", "username", "db_user") if items.get(k)), None)
            pw_key = next((k for k in ("password", "pass", "db_password", "db_pass") if items.get(k)), None)
            secret_id = None
            if not params.get("password") and pw_key:
                secret_id = sink.secret(items[pw_key], key=pw_key, kind="password", redacted=REDACTED, path=path).id
            self._connection(sink, path, scheme=scheme, host=params.get("host"),
                             port=digits_port(self, self.f, port, path=path, what="the port"),
                             database=params.get("dbname"), user=user,
                             password=params.get("password"), via=f"PDO {kind}: DSN",
                             socket=params.get("unix_socket"), secret_id=secret_id)

    # -- .env / properties / yaml ----------------------------------------------------------------------
    def _pairs(self, pairs: list[tuple[str, str]], path: str, sink: SecretSink) -> None:
        """KEY=VALUE settings: URLs (jdbc: too) become connections, secret-looking keys secrets; Laravel-style
        DB_CONNECTION/DB_HOST/... a connection of their own."""
        values = dict(pairs)
        scheme = ENV_DB_SCHEMES.get(values.get("DB_CONNECTION", "").lower())
        laravel = bool(scheme and values.get("DB_HOST"))
        for key, value in pairs:
            if not value or (laravel and key == "DB_PASSWORD"):
                continue
            if re.search(r"(^|[_.])KEY$", key, re.I) and not looks_secret_key(key) and not value.startswith("/"):
                # APP_KEY, ENCRYPTION_KEY, jwt.signing.key: keys that sign or encrypt are secrets too
                sink.secret(value, key=key, kind="signing-key", redacted=REDACTED, path=path)
                continue
            sink.value(key, value, path=path)
        if scheme and laravel:
            port = values.get("DB_PORT", "")
            self._connection(sink, path, scheme=scheme, host=values.get("DB_HOST"),
                             port=digits_port(self, self.f, port, path=path, what="the port"),
                             database=values.get("DB_DATABASE"),
                             user=values.get("DB_USERNAME"), password=values.get("DB_PASSWORD"), via="DB_PASSWORD",
                             socket=values.get("DB_SOCKET") or None)

    def _dotenv(self, text: str, path: str, sink: SecretSink) -> None:
        self._pairs([(k, v) for k, v, _ in parse_env_file(text)], path, sink)

    def _properties(self, text: str, path: str, sink: SecretSink) -> None:
        pairs = []
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith(("#", "!")):
                continue
            m = re.match(r"^([^=:\s]+)\s*[=:]\s*(.*)$", s)
            if m:
                pairs.append((m.group(1), m.group(2).strip()))
        self._pairs(pairs, path, sink)

    def _yaml(self, text: str, path: str, sink: SecretSink) -> None:
        pairs: list[tuple[str, str]] = []

        def flatten(node: object, prefix: str, depth: int) -> None:
            if depth > 20 or len(pairs) > 5000:
                return
            if isinstance(node, dict):
                for k, v in node.items():
                    flatten(v, f"{prefix}.{k}" if prefix else str(k), depth + 1)
            elif isinstance(node, (str, int, float)) and not isinstance(node, bool):
                pairs.append((prefix, str(node)))

        for doc in yaml.safe_load_all(text):
            flatten(doc, "", 0)
        self._pairs(pairs, path, sink)

    # -- Django --------------------------------------------------------------------------------------------
    def _django(self, text: str, path: str, sink: SecretSink) -> None:
        tree = ast.parse(text, filename=path)
        for node in tree.body:
            if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                continue
            name = node.targets[0].id
            if name == "DATABASES" and isinstance(node.value, ast.Dict):
                for alias, db in zip(node.value.keys, node.value.values, strict=True):
                    if isinstance(db, ast.Dict):
                        self._django_db(_literal_dict(db), _const(alias) or "default", path, sink)
            elif looks_secret_key(name) or name == "SECRET_KEY":
                value = _const(node.value)
                if value:
                    sink.secret(value, key=name, kind="api-key" if name == "SECRET_KEY" else "password",
                                redacted=REDACTED, path=path)

    def _django_db(self, db: dict[str, str], alias: str, path: str, sink: SecretSink) -> None:
        engine = db.get("ENGINE", "").rsplit(".", 1)[-1]
        scheme = DJANGO_ENGINES.get(engine)
        if scheme is None:
            if db.get("PASSWORD"):
                sink.secret(db["PASSWORD"], key=f"DATABASES.{alias}.PASSWORD", kind="password", redacted=REDACTED,
                            path=path)
            return
        host = db.get("HOST") or ""
        socket = host if host.startswith("/") else None
        port = db.get("PORT", "")
        self._connection(sink, path, scheme=scheme, host=None if socket else (host or "localhost"),
                         port=digits_port(self, self.f, port, path=path, what="the port"), database=db.get("NAME"),
                         user=db.get("USER"),
                         password=db.get("PASSWORD"), via=f"DATABASES.{alias}.PASSWORD",
                         socket=socket or (None if host or scheme != "mysql" else self.mysql_socket))


def _php_code(text: str) -> str:
    """PHP source without its comments (a commented-out connection is not a connection)."""
    return re.sub(r"(?m)^\s*(//|#).*$", "", re.sub(r"/\*.*?\*/", "", text, flags=re.S))


def _embeds_php(service: Service) -> bool:
    """The web server runs PHP itself (mod_php: a module loading libphp*.so, or PHP extensions read)."""
    return any(m.kind == "php" or posixpath.basename(m.path or "").startswith("libphp") or re.fullmatch(
        r"php\d*_module", m.name) for m in service.modules)


def _const(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)) and not isinstance(node.value, bool):
        return str(node.value)
    return None


def _literal_dict(node: ast.Dict) -> dict[str, str]:
    """The literal str/int entries of a dict display (entries computed at run time are left out)."""
    out = {}
    for k, v in zip(node.keys, node.values, strict=True):
        key, value = _const(k), _const(v)
        if key is not None and value is not None:
            out[key] = value
    return out
