"""The F1 corpus recipes (corpus-lamp, corpus-tomcat, corpus-nginx-tls) without building them: their
cache keys, and the artefacts and expected answers they derive from the data they seed."""

from __future__ import annotations

import io
import json
import zipfile

from migrate.samples import SAMPLES, _corpus, corpus_lamp, corpus_nginx_tls, corpus_tomcat

F1 = ("corpus-lamp", "corpus-tomcat", "corpus-nginx-tls")


def test_registered_with_distinct_keys_that_cover_the_shared_plumbing() -> None:
    keys = {name: SAMPLES[name].key() for name in F1}
    assert len(set(keys.values())) == 3
    assert all(SAMPLES[n].params["plumbing"] == _corpus.plumbing_key() for n in F1), \
        "a change to _corpus.py must rebuild the guests that use it"
    for name in F1:  # each guest's packages come from the one shared tarball
        assert set(SAMPLES[name].params["packages"]) <= set(_corpus.CORPUS_A_PACKAGES)


def test_war_is_a_deterministic_web_archive() -> None:
    war = corpus_tomcat.war_bytes()
    assert war == corpus_tomcat.war_bytes(), "same bytes every build (cache keys and image layers stay put)"
    with zipfile.ZipFile(io.BytesIO(war)) as z:
        assert set(z.namelist()) == {"META-INF/MANIFEST.MF", "index.jsp", "WEB-INF/web.xml"}
        jsp = z.read("index.jsp").decode()
        assert "java:comp/env/jdbc/orders" in jsp and "\n" not in jsp, "one line: the body is only what it prints"
        assert "<res-ref-name>jdbc/orders</res-ref-name>" in z.read("WEB-INF/web.xml").decode()
    assert corpus_tomcat.DB_PASSWORD in corpus_tomcat.CONTEXT_XML


def test_expected_answers_follow_the_seeded_data() -> None:
    lamp = corpus_lamp.expected_page().splitlines()
    assert lamp[0] == "inventory" and lamp[-1] == f"cache: {corpus_lamp.MOTD}"
    assert lamp[1:-1] == [f"{i} {item} {qty}" for i, (item, qty) in enumerate(corpus_lamp.PARTS, 1)]
    assert "mysqli('localhost'" in corpus_lamp.INDEX_PHP, "the page must reach MariaDB through its socket"
    orders = corpus_tomcat.expected_page().splitlines()
    assert len(orders) == len(corpus_tomcat.ORDERS) + 1
    notes = json.loads(corpus_nginx_tls.expected_notes())
    assert [n["body"] for n in notes["notes"]] == corpus_nginx_tls.NOTES and notes["motd"] == corpus_nginx_tls.MOTD
