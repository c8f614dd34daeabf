"""Minimal clients for the application probes of the corpus (DNS, LDAP, MQTT), in the standard library.

The migrated servers are asked the way their real clients ask them, over the stack network from the
host, with no client installed on the host or in the images: a DNS query over UDP (RFC 1035), an
anonymous LDAPv3 bind and search (RFC 4511, BER), an MQTT 3.1.1 session with a password. Each
function returns what the server answered; the tests compare it with what the VM answered.
"""

from __future__ import annotations

import os
import socket
import struct

# --------------------------------------------------------------------------------------------------
# DNS


def _dns_name(data: bytes, pos: int) -> tuple[str, int]:
    labels, end, jumps = [], None, 0
    while True:
        n = data[pos]
        if n & 0xC0 == 0xC0:  # compression pointer
            if end is None:
                end = pos + 2
            pos = ((n & 0x3F) << 8) | data[pos + 1]
            jumps += 1
            if jumps > 32:
                raise ValueError("DNS name compression loop")
            continue
        if n == 0:
            return ".".join(labels), (end if end is not None else pos + 1)
        labels.append(data[pos + 1:pos + 1 + n].decode())
        pos += 1 + n


def dns_query(host: str, port: int, name: str, qtype: str = "A", timeout: float = 5.0) -> tuple[int, list[tuple]]:
    """(rcode, answers) for one question; answers are (type, value): A → dotted quad, CNAME → name,
    SOA → (mname, serial), TXT → text."""
    types = {"A": 1, "CNAME": 5, "SOA": 6, "TXT": 16}
    qid = int.from_bytes(os.urandom(2), "big")
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", types[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(query, (host, port))
        data, _ = s.recvfrom(4096)
    rid, flags, qd, an = struct.unpack(">HHHH", data[:8])
    assert rid == qid, "DNS answer to another question"
    pos = 12
    for _ in range(qd):
        _, pos = _dns_name(data, pos)
        pos += 4
    answers: list[tuple] = []
    for _ in range(an):
        _, pos = _dns_name(data, pos)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos:pos + 10])
        pos += 10
        rdata = data[pos:pos + rdlen]
        if rtype == 1:
            answers.append(("A", socket.inet_ntoa(rdata)))
        elif rtype == 5:
            answers.append(("CNAME", _dns_name(data, pos)[0]))
        elif rtype == 6:
            mname, p2 = _dns_name(data, pos)
            _rname, p2 = _dns_name(data, p2)
            answers.append(("SOA", (mname, struct.unpack(">I", data[p2:p2 + 4])[0])))
        elif rtype == 16:
            answers.append(("TXT", rdata[1:1 + rdata[0]].decode()))
        pos += rdlen
    return flags & 0xF, answers


# --------------------------------------------------------------------------------------------------
# LDAP (BER)


def _ber(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + value


def _ber_read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    tag, n = data[pos], data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if pos + k > len(data):
            raise IndexError("length bytes not received yet")
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    return tag, data[pos:pos + n], pos + n


def _ber_items(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        tag, value, pos = _ber_read(data, pos)
        out.append((tag, value))
    return out


class _LdapReader:
    """LDAPMessages off one connection; a recv may carry several (a search's entries and its done
    message often arrive in one segment), so what is left after one message stays for the next."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def message(self) -> tuple[int, bytes]:
        """(protocolOp tag, its contents) of the next LDAPMessage."""
        while True:
            if len(self.buf) >= 2:
                try:
                    _tag, value, end = _ber_read(self.buf, 0)
                except IndexError:
                    end = len(self.buf) + 1
                if end <= len(self.buf):
                    self.buf = self.buf[end:]
                    return _ber_items(value)[1]
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("LDAP server closed the connection")
            self.buf += chunk


def ldap_search(host: str, port: int, base: str, attrs: list[str], *, timeout: float = 10.0,
                object_class: str | None = None) -> tuple[int, dict[str, dict[str, list[str]]]]:  # fmt: skip
    """Anonymous simple bind, then a subtree search under ``base`` (objectClass present, or equal to
    ``object_class``). Returns (resultCode of the search, {dn: {attr: values}})."""
    msgid = 1
    integer = lambda v: _ber(0x02, bytes([v]))  # noqa: E731 - small values only
    bind = _ber(0x60, integer(3) + _ber(0x04, b"") + _ber(0x80, b""))
    if object_class:
        flt = _ber(0xA3, _ber(0x04, b"objectClass") + _ber(0x04, object_class.encode()))
    else:
        flt = _ber(0x87, b"objectClass")
    search = _ber(0x63, _ber(0x04, base.encode()) + _ber(0x0A, b"\x02") + _ber(0x0A, b"\x00") + integer(0)
                  + integer(0) + _ber(0x01, b"\x00") + flt
                  + _ber(0x30, b"".join(_ber(0x04, a.encode()) for a in attrs)))  # fmt: skip
    entries: dict[str, dict[str, list[str]]] = {}
    with socket.create_connection((host, port), timeout=timeout) as s:
        reader = _LdapReader(s)
        s.sendall(_ber(0x30, integer(msgid) + bind))
        tag, body = reader.message()
        assert tag == 0x61, f"expected a BindResponse, got tag {tag:#x}"
        rc = _ber_items(body)[0][1][0]
        assert rc == 0, f"anonymous bind refused: resultCode {rc}"
        s.sendall(_ber(0x30, integer(msgid + 1) + search))
        while True:
            tag, body = reader.message()
            if tag == 0x64:  # SearchResultEntry
                (_, dn), (_, attrs_seq) = _ber_items(body)[:2]
                entry: dict[str, list[str]] = {}
                for _, pair in _ber_items(attrs_seq):
                    (_, name), (_, vals) = _ber_items(pair)[:2]
                    entry[name.decode()] = [v.decode() for _, v in _ber_items(vals)]
                entries[dn.decode()] = entry
            elif tag == 0x65:  # SearchResultDone
                return _ber_items(body)[0][1][0], entries


# --------------------------------------------------------------------------------------------------
# MQTT 3.1.1


def _mqtt_str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def _mqtt_packet(kind: int, body: bytes) -> bytes:
    n, length = len(body), b""
    while True:
        byte, n = n % 128, n // 128
        length += bytes([byte | (0x80 if n else 0)])
        if not n:
            return bytes([kind]) + length + body


def _mqtt_read(sock: socket.socket) -> tuple[int, bytes]:
    def exact(n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("MQTT broker closed the connection")
            out += chunk
        return out

    kind = exact(1)[0]
    n, shift = 0, 0
    while True:
        b = exact(1)[0]
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return kind, exact(n)


class MQTT:
    """One MQTT 3.1.1 session (QoS 0) with a username and password."""

    def __init__(self, host: str, port: int, user: str | None, password: str | None, *, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        flags = 0x02 | (0x80 if user else 0) | (0x40 if password else 0)
        payload = _mqtt_str(f"migrate-probe-{os.getpid()}") + (_mqtt_str(user) if user else b"") \
            + (_mqtt_str(password) if password else b"")
        self.sock.sendall(_mqtt_packet(0x10, _mqtt_str("MQTT") + bytes([4, flags]) + struct.pack(">H", 30) + payload))
        kind, body = _mqtt_read(self.sock)
        assert kind >> 4 == 2, f"expected CONNACK, got packet type {kind >> 4}"
        self.connack = body[1]  # 0 accepted, 4 bad user name or password, 5 not authorised

    def subscribe(self, topic: str) -> None:
        self.sock.sendall(_mqtt_packet(0x82, struct.pack(">H", 1) + _mqtt_str(topic) + b"\x00"))
        while True:
            kind, _ = _mqtt_read(self.sock)
            if kind >> 4 == 9:  # SUBACK
                return

    def publish(self, topic: str, message: str) -> None:
        self.sock.sendall(_mqtt_packet(0x30, _mqtt_str(topic) + message.encode()))

    def receive(self) -> tuple[str, str, bool]:
        """(topic, message, retained) of the next PUBLISH."""
        while True:
            kind, body = _mqtt_read(self.sock)
            if kind >> 4 == 3:
                n = struct.unpack(">H", body[:2])[0]
                start = 2 + n + (2 if (kind >> 1) & 3 else 0)
                return body[2:2 + n].decode(), body[start:].decode(), bool(kind & 1)

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()
