from migrate.analyzers._support import parse_connection, parse_env_file, redact_connection_url, split_host_port


def test_env_file_syntax():
    text = ("# c\nexport A=1\nB='two words'\nC=\"q \\\"x\\\"\"\nD=plain # trailing\nE=a\\\nb\nnot a line\n"
            "1BAD=x\n")
    assert [(k, v) for k, v, _ in parse_env_file(text)] == [("A", "1"), ("B", "two words"), ("C", 'q "x"'),
                                                            ("D", "plain"), ("E", "ab")]


def test_redact_connection_urls():
    assert redact_connection_url("postgres://u:p%40ss@h/db") == ("postgres://u:****@h/db", "p%40ss")
    assert redact_connection_url("amqp://guest:guest@rabbit:5672/") == ("amqp://guest:****@rabbit:5672/", "guest")
    assert redact_connection_url("jdbc:mysql://h:3306/d?user=u&password=pw") == (
        "jdbc:mysql://h:3306/d?user=u&password=****", "pw")
    assert redact_connection_url("https://example.com/x") == ("https://example.com/x", None)


def test_parse_connection_defaults():
    assert parse_connection("postgres://u@db/app") == ("postgresql", "db", 5432, "app", "u")
    assert parse_connection("rediss://:x@cache:6380/2") == ("rediss", "cache", 6380, "2", "")
    assert parse_connection("mongodb://m1:27017/x") == ("mongodb", "m1", 27017, "x", None)


def test_split_host_port():
    assert split_host_port("127.0.0.1:80") == ("127.0.0.1", 80)
    assert split_host_port("[::1]:8080") == ("::1", 8080)
    assert split_host_port("*:443") == (None, 443)
    assert split_host_port("80") == (None, 80)


def test_oracle_thin_urls_are_found_parsed_and_their_inline_password_redacted():
    """Oracle's thin driver writes no "://" (jdbc:oracle:thin:user/password@host:port:SID or @//host:port/service):
    such a URL was never found in a guest, so no connection (and no cross-VM edge) came of it."""
    from migrate.analyzers._support import URL_RE

    text = ("db.url=jdbc:oracle:thin:scott/T1ger-S3cret@db01.corp.example:1521:ORCL\n"
            "other=jdbc:oracle:thin:@//10.0.0.7:1521/orders.corp.example next")
    urls = URL_RE.findall(text)
    assert urls == ["jdbc:oracle:thin:scott/T1ger-S3cret@db01.corp.example:1521:ORCL",
                    "jdbc:oracle:thin:@//10.0.0.7:1521/orders.corp.example"]
    assert redact_connection_url(urls[0]) == ("jdbc:oracle:thin:scott/****@db01.corp.example:1521:ORCL", "T1ger-S3cret")
    assert redact_connection_url(urls[1]) == (urls[1], None)
    assert parse_connection(urls[0]) == ("jdbc:oracle:thin", "db01.corp.example", 1521, "ORCL", "scott")
    assert parse_connection(urls[1]) == ("jdbc:oracle:thin", "10.0.0.7", 1521, "orders.corp.example", None)
