from migrate.analyzers.users_groups import UsersGroupsAnalyzer


def test_users_groups_and_password_flag_without_hash(flagship, run):
    flagship.write("/etc/passwd", flagship.host("/etc/passwd").read_text() + "garbage line\n")
    f, _ = run(flagship, UsersGroupsAnalyzer())
    users = {u.name: u for u in f.users}
    assert (users["shop"].uid, users["shop"].gid, users["shop"].system) == (1001, 1001, False)
    assert users["postgres"].system and users["postgres"].home == "/var/lib/postgresql"
    assert users["root"].has_password and not users["shop"].has_password and not users["redis"].has_password
    groups = {g.name: g for g in f.groups}
    assert groups["ssl-cert"].members == ["postgres"] and groups["shop"].gid == 1001
    assert len(f.unknowns) == 1 and "line 7" in f.unknowns[0].message
    assert "$6$" not in f.model_dump_json()
