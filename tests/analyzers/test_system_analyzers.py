from migrate.analyzers.fstab import FstabAnalyzer
from migrate.analyzers.network import NetworkAnalyzer


def test_fstab(flagship, run):
    f, _ = run(flagship, FstabAnalyzer())
    mounts = {m.mountpoint: m for m in f.mounts}
    assert mounts["/"].spec == "/dev/mapper/vg0-root" and mounts["/"].mounted and mounts["/"].passno == 1
    assert mounts["/var"].fstype == "xfs" and not mounts["/var"].mounted  # a directory RootFS mounts only /
    assert mounts["/boot/efi"].options == ["umask=0077"]


def test_network_debian(flagship, run):
    f, _ = run(flagship, NetworkAnalyzer())
    net = f.network
    assert net.hostname == "shop-vm" and net.nameservers == ["10.0.2.3"] and net.interfaces == ["lo", "ens3"]
    assert any(h.address == "127.0.1.1" and "shop-vm" in h.names for h in net.hosts)


def test_network_netplan_nm_and_ifcfg(tree, run):
    tree.write("/etc/hostname", "box\n")
    tree.write("/etc/netplan/50-cloud-init.yaml",
               "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n")
    tree.write("/etc/netplan/99-broken.yaml", "network: [unclosed\n")
    tree.write("/etc/NetworkManager/system-connections/office.nmconnection",
               "[connection]\nid=office\ntype=wifi\n[wifi-security]\npsk=wifi-secret\n")
    tree.write("/etc/sysconfig/network-scripts/ifcfg-ens192", "DEVICE=ens192\nBOOTPROTO=dhcp\n")
    f, _ = run(tree, NetworkAnalyzer())
    assert f.network.interfaces == ["eth0", "nm:office", "ens192"]
    assert f.unknowns[0].path == "/etc/netplan/99-broken.yaml"
    assert "wifi-secret" not in f.model_dump_json()
