"""Interface addresses from the five network configuration formats (ifupdown, netplan, systemd-networkd,
NetworkManager keyfiles, RHEL ifcfg), each with its file and line, and hostile input as unknowns of a
line. The same parser on real sample guests: tests/fleet/test_fleet_graph_ip.py (the fleet edge by IP)."""

from __future__ import annotations

import time

from migrate.analyzers.network import MAX_ADDRESSES, MAX_BAD_LINES, NetworkAnalyzer


def rows(f) -> list[tuple]:
    return [(a.interface, a.method, a.address, a.prefixlen, a.evidence.path, a.evidence.detail)
            for a in f.network.addresses]


def test_ifupdown_static_netmask_cidr_inet6_dhcp_and_sourced_files(tree, run):
    tree.write("/etc/network/interfaces",
               "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address 10.0.0.5\n"
               "    netmask 255.255.255.0\n    gateway 10.0.0.1\niface eth0 inet6 static\n    address fd00::5/64\n"
               "source interfaces.d/*\n")
    tree.write("/etc/network/interfaces.d/eth1", "allow-hotplug eth1\niface eth1 inet dhcp\n"
                                                 "iface eth2 inet static\n  address 192.168.7.2/24  # backend\n"
                                                 "  address 192.168.8.2\n  netmask 16\n")
    f, _ = run(tree, NetworkAnalyzer())
    assert rows(f) == [
        ("eth0", "static", "10.0.0.5", 24, "/etc/network/interfaces", "line 6"),
        ("eth0", "static", "fd00::5", 64, "/etc/network/interfaces", "line 10"),
        ("eth1", "dhcp", None, None, "/etc/network/interfaces.d/eth1", "line 2"),
        ("eth2", "static", "192.168.7.2", 24, "/etc/network/interfaces.d/eth1", "line 4"),
        ("eth2", "static", "192.168.8.2", 16, "/etc/network/interfaces.d/eth1", "line 5"),
    ]
    assert f.network.interfaces == ["lo", "eth0", "eth1", "eth2"] and not f.unknowns


def test_netplan_addresses_lists_label_mappings_and_dhcp(tree, run):
    tree.write("/etc/netplan/01-netcfg.yaml",
               "network:\n  version: 2\n  ethernets:\n    ens3:\n      addresses: [10.1.0.5/24, \"fd01::5/64\"]\n"
               "      dhcp6: true\n  bonds:\n    bond0:\n      addresses:\n        - 10.1.1.5/16:\n"
               "            label: bond0:0\n      dhcp4: no\n")
    f, _ = run(tree, NetworkAnalyzer())
    assert rows(f) == [
        ("ens3", "static", "10.1.0.5", 24, "/etc/netplan/01-netcfg.yaml", "line 5"),
        ("ens3", "static", "fd01::5", 64, "/etc/netplan/01-netcfg.yaml", "line 5"),
        ("ens3", "dhcp", None, None, "/etc/netplan/01-netcfg.yaml", "line 6"),
        ("bond0", "static", "10.1.1.5", 16, "/etc/netplan/01-netcfg.yaml", "line 10"),
    ]
    assert f.network.interfaces == ["ens3", "bond0"]


def test_networkd_network_and_address_sections(tree, run):
    tree.write("/etc/systemd/network/10-lan.network",
               "[Match]\nName=eth0 ens3\n\n[Network]\nAddress=10.3.0.5/24\nGateway=10.3.0.1\nDHCP=ipv6\n"
               "[Address]\nAddress=10.3.0.6/24\n")
    tree.write("/etc/systemd/network/20-dhcp.network", "[Match]\nName=en*\n[Network]\nDHCP=yes\n")
    f, _ = run(tree, NetworkAnalyzer())
    assert rows(f) == [
        ("eth0 ens3", "static", "10.3.0.5", 24, "/etc/systemd/network/10-lan.network", "line 5"),
        ("eth0 ens3", "dhcp", None, None, "/etc/systemd/network/10-lan.network", "line 7"),
        ("eth0 ens3", "static", "10.3.0.6", 24, "/etc/systemd/network/10-lan.network", "line 9"),
        ("en*", "dhcp", None, None, "/etc/systemd/network/20-dhcp.network", "line 4"),
    ]


def test_networkmanager_keyfile_addresses_never_secrets(tree, run):
    tree.write("/etc/NetworkManager/system-connections/office.nmconnection",
               "[connection]\nid=office\ninterface-name=enp1s0\n[wifi-security]\npsk=wifi-S3cret\n"
               "address1=10.66.0.1/24\n[ipv4]\nmethod=manual\naddress1=10.2.0.5/24,10.2.0.1\n"
               "addresses2=10.2.0.6;24;10.2.0.1;\n[ipv6]\nmethod=auto\n[vpn-secrets]\npassword=vpn-S3cret\n")
    f, _ = run(tree, NetworkAnalyzer())
    path = "/etc/NetworkManager/system-connections/office.nmconnection"
    assert rows(f) == [("enp1s0", "static", "10.2.0.5", 24, path, "line 9"),
                       ("enp1s0", "static", "10.2.0.6", 24, path, "line 10"),
                       ("enp1s0", "dhcp", None, None, path, "line 12")]
    text = f.model_dump_json()
    assert "S3cret" not in text and "10.66.0.1" not in text  # keys of other sections are never read


def test_rhel_ifcfg_ipaddr_prefix_netmask_ipv6_and_bootproto(tree, run):
    tree.write("/etc/sysconfig/network-scripts/ifcfg-ens192",
               'DEVICE=ens192\nBOOTPROTO=none\nIPADDR=10.4.0.5\nPREFIX=24\nIPADDR1="10.4.0.6"\n'
               "NETMASK1=255.255.0.0\nIPV6ADDR=fd04::5/64\nIPV6ADDR_SECONDARIES='fd04::6/64 fd04::7/64'\n")
    tree.write("/etc/sysconfig/network-scripts/ifcfg-eth1", "DEVICE=eth1\nBOOTPROTO=dhcp\n")
    f, _ = run(tree, NetworkAnalyzer())
    p = "/etc/sysconfig/network-scripts/ifcfg-"
    assert rows(f) == [("ens192", "static", "10.4.0.5", 24, p + "ens192", "line 3"),
                       ("ens192", "static", "10.4.0.6", 16, p + "ens192", "line 5"),
                       ("ens192", "static", "fd04::5", 64, p + "ens192", "line 7"),
                       ("ens192", "static", "fd04::6", 64, p + "ens192", "line 8"),
                       ("ens192", "static", "fd04::7", 64, p + "ens192", "line 8"),
                       ("eth1", "dhcp", None, None, p + "eth1", "line 2")]


def test_hostile_lines_are_unknowns_of_their_line_and_the_rest_is_kept(tree, run):
    huge = "9" * 5000
    tree.write("/etc/hostname", "box\n")
    tree.write("/etc/network/interfaces",
               f"iface eth0 inet static\n address 10.0.0.5/99\n address {huge}\n address not-an-ip\n"
               f" address 10.0.0.6\n netmask {huge}\niface eth1 inet static\n address 10.0.1.5/24\n")
    tree.write("/etc/systemd/network/1.network", f"[Network]\nAddress=10.3.0.5/{huge}\nAddress=\u0661\u0660.0.0.1\n"
                                                 "Address=10.3.0.7/\u0662\u0664\n")
    tree.write("/etc/sysconfig/network-scripts/ifcfg-x", f"IPADDR=10.4.0.5\nPREFIX=-1\nIPADDR2={huge}\n")
    tree.write("/etc/netplan/big.yaml", "x" * (5 << 20))  # over the read budget: an unknown, nothing else lost
    tree.write("/etc/netplan/deep.yaml", "[" * 100_000)
    tree.write("/etc/netplan/bomb.yaml",  # aliases share nodes: a few hundred bytes, 10^9 visits when walked naively
               "a: &a [" + ",".join(["10.0.0.9/24"] * 1000) + "]\n"
               "d: &d {" + ",".join(f"addresses{i}: *a" for i in range(3)) + ", addresses: *a}\n"
               "network:\n  ethernets: {" + ",".join(f"e{i}: *d" for i in range(1000)) + "}\n")
    start = time.monotonic()
    f, _ = run(tree, NetworkAnalyzer())
    assert time.monotonic() - start < 20
    assert [(a.interface, a.address, a.prefixlen) for a in f.network.addresses if a.address != "10.0.0.9"] == [
        ("eth1", "10.0.1.5", 24)]
    assert len(f.network.addresses) <= MAX_ADDRESSES
    got = {(u.path, u.message) for u in f.unknowns}
    assert {("/etc/network/interfaces", "line 2: not a prefix length or netmask"),
            ("/etc/network/interfaces", "line 3: not an IP address"),
            ("/etc/network/interfaces", "line 4: not an IP address"),
            ("/etc/network/interfaces", "line 5: not a prefix length or netmask"),
            ("/etc/systemd/network/1.network", "line 2: not a prefix length or netmask"),
            ("/etc/systemd/network/1.network", "line 3: not an IP address"),
            ("/etc/systemd/network/1.network", "line 4: not a prefix length or netmask"),
            ("/etc/sysconfig/network-scripts/ifcfg-x", "line 1: not a prefix length or netmask"),
            ("/etc/sysconfig/network-scripts/ifcfg-x", "line 3: not an IP address"),
            ("/etc/netplan/deep.yaml", "not valid YAML: nested too deeply")} <= got
    assert any(u.path == "/etc/netplan/big.yaml" and u.message.startswith("cannot read") for u in f.unknowns)
    assert any(u.path == "/etc/netplan/bomb.yaml" and "too many" in u.message for u in f.unknowns)
    assert not any(huge[:50] in u.message for u in f.unknowns), "guest text is not quoted"
    assert f.network.hostname == "box"


def test_many_bad_lines_are_counted_not_listed_and_addresses_are_capped(tree, run):
    tree.write("/etc/network/interfaces", "iface eth0 inet static\n" + " address bogus\n" * 500
               + "".join(f" address 10.{i >> 8 & 255}.{i & 255}.1/24\n" for i in range(MAX_ADDRESSES + 10)))
    f, _ = run(tree, NetworkAnalyzer())
    mine = [u.message for u in f.unknowns if u.path == "/etc/network/interfaces"]
    assert len(mine) == MAX_BAD_LINES + 1 and mine[-1] == f"{500 - MAX_BAD_LINES} more lines that are not addresses"
    assert len(f.network.addresses) == MAX_ADDRESSES
    assert any(u.message == f"more than {MAX_ADDRESSES} interface addresses: 10 not recorded" for u in f.unknowns)


def test_networkd_search_path_masking_by_name_and_drop_ins_in_order(tree, run):
    """systemd.network(5): /etc, /run, /usr/local/lib, /usr/lib and /lib, a name higher up hiding (or, as
    a link to /dev/null, masking) the same name below; drop-ins ``<name>.d/*.conf`` from every directory
    by name, applied in lexical order: Address= accumulates, an empty one resets, DHCP= overrides."""
    tree.write("/usr/lib/systemd/network/10-lan.network", "[Match]\nName=eth0\n[Network]\nAddress=10.9.0.1/24\n")
    tree.write("/etc/systemd/network/10-lan.network", "[Match]\nName=eth0\n[Network]\nAddress=10.5.0.5/24\n"
                                                      "DHCP=yes\n")
    tree.write("/usr/lib/systemd/network/10-lan.network.d/20-more.conf", "[Network]\nAddress=10.9.9.9/24\n")
    tree.write("/etc/systemd/network/10-lan.network.d/20-more.conf", "[Network]\nAddress=10.5.0.6/24\n")
    tree.write("/run/systemd/network/10-lan.network.d/30-nodhcp.conf", "[Network]\nDHCP=no\n")
    tree.write("/usr/lib/systemd/network/10-lan.network.d/10-first.conf", "[Address]\nAddress=10.5.0.4/24\n")
    tree.write("/usr/lib/systemd/network/20-wan.network",
               "[Match]\nName=eth1\n[Network]\nAddress=10.6.0.5/24\n[Address]\nAddress=10.6.0.6/24\n")
    tree.write("/usr/lib/systemd/network/20-wan.network.d/50-reset.conf",
               "[Network]\nAddress=\nAddress=10.6.1.5/16\nDHCP=ipv4\n")
    tree.write("/lib/systemd/network/30-old.network", "[Match]\nName=eth2\n[Network]\nAddress=10.7.0.5/24\n")
    tree.write("/usr/lib/systemd/network/40-masked.network", "[Network]\nAddress=10.8.0.5/24\n")
    tree.link("/etc/systemd/network/40-masked.network", "/dev/null")
    tree.write("/usr/lib/systemd/network/50-empty.network", "[Network]\nAddress=10.8.1.5/24\n")
    tree.write("/etc/systemd/network/50-empty.network", "")
    tree.write("/usr/lib/systemd/network/20-wan.network.d/60-gone.conf", "[Network]\nAddress=10.8.2.5/24\n")
    tree.link("/etc/systemd/network/20-wan.network.d/60-gone.conf", "/dev/null")
    f, _ = run(tree, NetworkAnalyzer())
    e, u, r = "/etc/systemd/network/", "/usr/lib/systemd/network/", "/run/systemd/network/"
    assert rows(f) == [
        ("eth0", "static", "10.5.0.5", 24, e + "10-lan.network", "line 4"),
        ("eth0", "static", "10.5.0.4", 24, u + "10-lan.network.d/10-first.conf", "line 2"),
        ("eth0", "static", "10.5.0.6", 24, e + "10-lan.network.d/20-more.conf", "line 2"),
        ("eth1", "static", "10.6.1.5", 16, u + "20-wan.network.d/50-reset.conf", "line 3"),
        ("eth1", "dhcp", None, None, u + "20-wan.network.d/50-reset.conf", "line 4"),
        ("eth2", "static", "10.7.0.5", 24, "/lib/systemd/network/30-old.network", "line 4"),
    ]
    assert f.network.interfaces == ["eth0", "eth1", "eth2"] and not f.unknowns
    read = {ev.path for ev in f.network.evidence}
    assert r + "10-lan.network.d/30-nodhcp.conf" in read and u + "10-lan.network" not in read


def test_networkd_files_are_bounded(tree, run):
    from migrate.analyzers.network import MAX_NETWORKD_FILES

    for i in range(MAX_NETWORKD_FILES // 2 + 5):
        tree.write(f"/etc/systemd/network/{i:05d}.network", f"[Network]\nAddress=10.{i >> 8}.{i & 255}.1/24\n")
        tree.write(f"/usr/lib/systemd/network/{i:05d}.network.d/a.conf", "[Network]\nDHCP=yes\n")
    start = time.monotonic()
    f, _ = run(tree, NetworkAnalyzer())
    elapsed = time.monotonic() - start
    assert len([a for a in f.network.addresses if a.method == "static"]) == MAX_NETWORKD_FILES // 2
    assert [u.message for u in f.unknowns] == [f"more than {MAX_NETWORKD_FILES} systemd-networkd files: the rest "
                                               "not read"]
    assert elapsed < 30, elapsed


def test_networkd_files_for_links_a_vm_does_not_have_are_not_its_interfaces(tree, run):
    """systemd ships .network files for the links of containers and VMs it hosts (veth, bridge, tun),
    for inside a container (host0) and for 6rd tunnels; on every Debian guest with systemd they sit in
    /usr/lib/systemd/network. They are not the VM's interfaces and their pools are not its addresses."""
    lib = "/usr/lib/systemd/network"
    tree.write(f"{lib}/80-container-host0.network",
               "[Match]\nVirtualization=container\nName=host0\n\n[Network]\nDHCP=yes\n")
    tree.write(f"{lib}/80-container-ve.network",
               "[Match]\nName=ve-*\nDriver=veth\n\n[Network]\nAddress=0.0.0.0/28\nDHCPServer=yes\n")
    tree.write(f"{lib}/80-container-vz.network", "[Match]\nName=vz-*\nDriver=bridge\n\n[Network]\nAddress=0.0.0.0/24\n")
    tree.write(f"{lib}/80-vm-vt.network", "[Match]\nName=vt-*\nDriver=tun\n\n[Network]\nAddress=0.0.0.0/28\n")
    tree.write(f"{lib}/80-6rd-tunnel.network", "[Match]\nName=6rd-*\nType=sit\n\n[Network]\nIPv6AcceptRA=no\n")
    tree.write("/etc/systemd/network/10-ens3.network",
               "[Match]\nName=ens3\nVirtualization=!container\n\n[Network]\nAddress=10.2.0.9/24\n")
    tree.write("/etc/systemd/network/20-all.network", "[Match]\nName=en*\nVirtualization=vm\n\n[Network]\nDHCP=yes\n")
    f, _ = run(tree, NetworkAnalyzer())
    assert f.network.interfaces == ["ens3", "en*"]
    assert rows(f) == [("ens3", "static", "10.2.0.9", 24, "/etc/systemd/network/10-ens3.network", "line 6"),
                       ("en*", "dhcp", None, None, "/etc/systemd/network/20-all.network", "line 6")]
