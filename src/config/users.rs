//! Looking up users and groups in the /etc/passwd and /etc/group formats, read directly (a static
//! build has no NSS).

use std::fmt;
use std::path::Path;

/// The id the kernel reads as -1: setresuid(-1, ...) and setresgid(-1, ...)
/// mean "leave it unchanged", so a program meant to run as it would keep
/// rinit's own (root's) ids. Refused wherever it would be used.
pub const RESERVED_ID: u32 = u32::MAX;

/// Why a user or group could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupError {
    EmptyUser,
    EmptyGroup,
    NoUser(String),
    NoGroup(String),
    /// A uid or gid of 4294967295 (`RESERVED_ID`).
    ReservedUid,
    ReservedGid,
    /// /etc/passwd or /etc/group could not be read: the path and why.
    Read(&'static str, String),
}

impl LookupError {
    /// Whether the error is about the group rather than the user.
    pub fn is_about_group(&self) -> bool {
        matches!(
            self,
            LookupError::EmptyGroup | LookupError::NoGroup(_) | LookupError::ReservedGid
        )
    }
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            LookupError::EmptyUser => f.write_str("the user name is empty"),
            LookupError::EmptyGroup => f.write_str("the group name is empty"),
            LookupError::NoUser(name) => write!(f, "no user {name:?} in /etc/passwd"),
            LookupError::NoGroup(name) => write!(f, "no group {name:?} in /etc/group"),
            LookupError::ReservedUid => write!(
                f,
                "uid {RESERVED_ID} cannot be used: the kernel reads it as -1, \"leave the uid unchanged\", \
                 so the program would keep rinit's uid"
            ),
            LookupError::ReservedGid => write!(
                f,
                "gid {RESERVED_ID} cannot be used: the kernel reads it as -1, \"leave the gid unchanged\", \
                 so the program would keep rinit's gid"
            ),
            LookupError::Read(path, why) => write!(f, "cannot read {path}: {why}"),
        }
    }
}

/// An /etc/passwd entry (or a stand-in for a uid that has none).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// A user with every gid it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub user: User,
    /// The primary gid first (the one of `--user NAME:GROUP` if given, else the passwd one), then each
    /// group of /etc/group whose member list names the user (deduplicated, file order).
    pub groups: Vec<u32>,
}

/// Finds a user by name, or by uid if `spec` is a decimal number; an unknown uid is still accepted
/// (as Docker does) with gid = uid, home `/` and shell `/bin/sh`.
pub fn find_user(passwd: &str, spec: &str) -> Result<User, LookupError> {
    if spec.is_empty() {
        return Err(LookupError::EmptyUser);
    }
    let mut users = fields(passwd).filter_map(|fields| match fields[..] {
        [name, _, uid, gid, _, home, shell] => Some(User {
            name: name.into(),
            uid: parse_id(uid)?,
            gid: parse_id(gid)?,
            home: home.into(),
            shell: shell.into(),
        }),
        _ => None,
    });
    match parse_id(spec) {
        Some(uid) => Ok(users.find(|user| user.uid == uid).unwrap_or_else(|| User {
            name: spec.into(),
            uid,
            gid: uid,
            home: "/".into(),
            shell: "/bin/sh".into(),
        })),
        None => users
            .find(|user| user.name == spec)
            .ok_or_else(|| LookupError::NoUser(spec.into())),
    }
}

/// Finds a gid by group name; a decimal number is taken as a gid as is, listed or not.
pub fn find_group(group: &str, spec: &str) -> Result<u32, LookupError> {
    if spec.is_empty() {
        return Err(LookupError::EmptyGroup);
    }
    if let Some(gid) = parse_id(spec) {
        return Ok(gid);
    }
    groups(group)
        .find(|&(name, _, _)| name == spec)
        .map(|(_, gid, _)| gid)
        .ok_or_else(|| LookupError::NoGroup(spec.into()))
}

/// The gids of a user: `primary_gid` first, then each group whose member list names `user_name`,
/// without duplicates, in file order.
pub fn supplementary_groups(group: &str, user_name: &str, primary_gid: u32) -> Vec<u32> {
    let mut gids = vec![primary_gid];
    for (_, gid, members) in groups(group) {
        if !gids.contains(&gid) && members.split(',').any(|member| member.trim() == user_name) {
            gids.push(gid);
        }
    }
    gids
}

/// Looks up `spec` (a user name or uid) and the optional `group_spec` (a group name or gid, which
/// overrides the primary group) in /etc/passwd and /etc/group.
pub fn lookup(spec: &str, group_spec: Option<&str>) -> Result<Account, LookupError> {
    // A numeric user needs no passwd entry, and a missing /etc/group just means no groups.
    let passwd = read("/etc/passwd", parse_id(spec).is_some())?;
    let group = read("/etc/group", true)?;
    lookup_in(&passwd, &group, spec, group_spec)
}

/// [`lookup`] in the given passwd and group file contents. An account
/// with a uid or gid of `RESERVED_ID` is refused.
pub fn lookup_in(
    passwd: &str,
    group: &str,
    spec: &str,
    group_spec: Option<&str>,
) -> Result<Account, LookupError> {
    let user = find_user(passwd, spec)?;
    if user.uid == RESERVED_ID {
        return Err(LookupError::ReservedUid);
    }
    let primary_gid = match group_spec {
        Some(group_spec) => find_group(group, group_spec)?,
        None => user.gid,
    };
    let groups = supplementary_groups(group, &user.name, primary_gid);
    if groups.contains(&RESERVED_ID) {
        return Err(LookupError::ReservedGid);
    }
    Ok(Account { user, groups })
}

/// ": did you mean `"NAME"`?" for a user or group that is not there, with
/// the closest name in /etc/passwd or /etc/group; or nothing.
pub fn did_you_mean(error: &LookupError) -> String {
    let (path, name) = match error {
        LookupError::NoUser(name) => ("/etc/passwd", name),
        LookupError::NoGroup(name) => ("/etc/group", name),
        _ => return String::new(),
    };
    let text = read(path, true).unwrap_or_default();
    closest_name(&text, name).map_or_else(String::new, |known| format!(": did you mean `{known:?}`?"))
}

/// The name in a passwd or group file's `text` closest to `name`.
fn closest_name(text: &str, name: &str) -> Option<String> {
    let names = fields(text).filter_map(|fields| fields.first().copied());
    super::suggest::closest(name, names).map(str::to_string)
}

/// Reads a file; a missing one reads as empty if `missing_ok`.
fn read(path: &'static str, missing_ok: bool) -> Result<String, LookupError> {
    match super::input::read_text(Path::new(path)) {
        Err(_) if missing_ok && !Path::new(path).exists() => Ok(String::new()),
        result => result.map_err(|why| LookupError::Read(path, why)),
    }
}

/// The `:`-separated fields of each line but comments and NIS `+`/`-` lines (blank lines, having one
/// field, are then skipped as malformed).
fn fields(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|line| !line.starts_with(['#', '+', '-']))
        .map(|line| line.split(':').collect())
}

/// The (name, gid, member list) of each well-formed /etc/group line.
fn groups(group: &str) -> impl Iterator<Item = (&str, u32, &str)> {
    fields(group).filter_map(|fields| match fields[..] {
        [name, _, gid, members] => Some((name, parse_id(gid)?, members)),
        _ => None,
    })
}

/// A decimal id: digits only (no sign, no spaces) and within `u32`.
fn parse_id(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
# comment:x:7:7::/:/bin/sh
root:x:0:0:root:/root:/bin/bash

+nis:x:50:50::/:/bin/sh
-other:x:51:51::/:/bin/sh
short:x:52:52::/
bad:x:uid:53::/:/bin/sh
neg:x:-1:53::/:/bin/sh
app:x:1000:1000:The App,,,:/home/app:/bin/ash\r
dup:x:1000:9:::
";

    const GROUP: &str = "\
root:x:0:root
# wheel:x:10:app
+:::
bad:x:gid:app
short:x:11
wheel:x:10:root,app
users:x:100: other , app
app:x:1000:
again:x:10:app
staff:x:50:app,root
";

    fn user(name: &str, uid: u32, gid: u32, home: &str, shell: &str) -> User {
        User {
            name: name.into(),
            uid,
            gid,
            home: home.into(),
            shell: shell.into(),
        }
    }

    #[test]
    fn a_name_that_is_not_there_gets_the_closest() {
        assert_eq!(closest_name(PASSWD, "ap"), Some("app".to_string()));
        assert_eq!(closest_name(GROUP, "wheal"), Some("wheel".to_string()));
        assert_eq!(closest_name(PASSWD, "zzzzzz"), None);
    }

    #[test]
    fn find_user_by_name_or_uid() {
        let app = user("app", 1000, 1000, "/home/app", "/bin/ash");
        assert_eq!(find_user(PASSWD, "app"), Ok(app.clone()));
        assert_eq!(find_user(PASSWD, "1000"), Ok(app));
        assert_eq!(
            find_user(PASSWD, "0"),
            Ok(user("root", 0, 0, "/root", "/bin/bash"))
        );
        assert_eq!(
            find_user(PASSWD, "00"),
            Ok(user("root", 0, 0, "/root", "/bin/bash"))
        );
    }

    #[test]
    fn unknown_uid_is_accepted() {
        assert_eq!(
            find_user(PASSWD, "1234"),
            Ok(user("1234", 1234, 1234, "/", "/bin/sh"))
        );
        assert_eq!(find_user("", "50"), Ok(user("50", 50, 50, "/", "/bin/sh")));
    }

    #[test]
    fn skipped_lines_are_not_users() {
        for name in ["# comment", "+nis", "-other", "short", "bad", "neg"] {
            assert_eq!(find_user(PASSWD, name), Err(LookupError::NoUser(name.into())));
        }
        assert_eq!(find_user(PASSWD, "52"), Ok(user("52", 52, 52, "/", "/bin/sh")));
    }

    #[test]
    fn find_user_errors() {
        assert_eq!(
            find_user(PASSWD, "nobody"),
            Err(LookupError::NoUser("nobody".into()))
        );
        assert_eq!(find_user(PASSWD, ""), Err(LookupError::EmptyUser));
        assert_eq!(
            find_user(PASSWD, "99999999999"),
            Err(LookupError::NoUser("99999999999".into()))
        );
    }

    #[test]
    fn find_group_by_name_or_gid() {
        assert_eq!(find_group(GROUP, "wheel"), Ok(10));
        assert_eq!(find_group(GROUP, "10"), Ok(10));
        assert_eq!(find_group(GROUP, "4321"), Ok(4321));
        assert_eq!(find_group("", "7"), Ok(7));
        assert_eq!(find_group(GROUP, "bad"), Err(LookupError::NoGroup("bad".into())));
        assert_eq!(
            find_group(GROUP, "short"),
            Err(LookupError::NoGroup("short".into()))
        );
        assert_eq!(
            find_group(GROUP, "# wheel"),
            Err(LookupError::NoGroup("# wheel".into()))
        );
        assert_eq!(find_group(GROUP, ""), Err(LookupError::EmptyGroup));
    }

    #[test]
    fn supplementary_groups_in_file_order_without_duplicates() {
        assert_eq!(supplementary_groups(GROUP, "app", 1000), [1000, 10, 100, 50]);
        assert_eq!(supplementary_groups(GROUP, "app", 50), [50, 10, 100]);
        assert_eq!(supplementary_groups(GROUP, "root", 0), [0, 10, 50]);
        assert_eq!(supplementary_groups(GROUP, "other", 7), [7, 100]);
        assert_eq!(supplementary_groups(GROUP, "ap", 7), [7]);
        assert_eq!(supplementary_groups("", "app", 7), [7]);
    }

    #[test]
    fn lookup_in_files() {
        let app = user("app", 1000, 1000, "/home/app", "/bin/ash");
        let account = |user: &User, groups: &[u32]| {
            Ok(Account {
                user: user.clone(),
                groups: groups.to_vec(),
            })
        };
        assert_eq!(
            lookup_in(PASSWD, GROUP, "app", None),
            account(&app, &[1000, 10, 100, 50])
        );
        assert_eq!(
            lookup_in(PASSWD, GROUP, "1000", Some("staff")),
            account(&app, &[50, 10, 100])
        );
        assert_eq!(
            lookup_in(PASSWD, GROUP, "app", Some("777")),
            account(&app, &[777, 10, 100, 50])
        );
        let unknown = user("1234", 1234, 1234, "/", "/bin/sh");
        assert_eq!(lookup_in("", "", "1234", None), account(&unknown, &[1234]));
        assert_eq!(lookup_in("", "", "1234", Some("5")), account(&unknown, &[5]));
    }

    #[test]
    fn lookup_in_errors() {
        assert_eq!(
            lookup_in(PASSWD, GROUP, "nobody", None),
            Err(LookupError::NoUser("nobody".into()))
        );
        assert_eq!(
            lookup_in(PASSWD, GROUP, "app", Some("nogroup")),
            Err(LookupError::NoGroup("nogroup".into()))
        );
        assert_eq!(lookup_in(PASSWD, GROUP, "", None), Err(LookupError::EmptyUser));
    }

    #[test]
    fn ids_the_kernel_reads_as_minus_one_are_refused() {
        let passwd = "max:x:4294967295:1:::\nmaxgid:x:7:4294967295:::\n";
        let group = "maxg:x:4294967295:app\n";
        assert_eq!(
            lookup_in("", "", "4294967295", None),
            Err(LookupError::ReservedUid)
        );
        assert_eq!(lookup_in(passwd, "", "max", None), Err(LookupError::ReservedUid));
        assert_eq!(
            lookup_in(passwd, "", "maxgid", None),
            Err(LookupError::ReservedGid)
        );
        assert_eq!(
            lookup_in("", "", "0", Some("4294967295")),
            Err(LookupError::ReservedGid)
        );
        assert_eq!(
            lookup_in(PASSWD, group, "app", None),
            Err(LookupError::ReservedGid)
        );
        assert_eq!(
            LookupError::ReservedUid.to_string(),
            "uid 4294967295 cannot be used: the kernel reads it as -1, \"leave the uid unchanged\", \
             so the program would keep rinit's uid"
        );
        // One less is an ordinary id.
        assert_eq!(
            lookup_in("", "", "4294967294", None).unwrap().user.uid,
            4294967294
        );
    }

    #[test]
    fn lookup_reads_etc() {
        let root = lookup("0", None).unwrap();
        assert_eq!((root.user.uid, root.groups.first()), (0, Some(&root.user.gid)));
        assert_eq!(lookup("0", Some("4321")).unwrap().groups.first(), Some(&4321));
    }

    #[test]
    fn read_errors() {
        assert_eq!(read("/nonexistent/passwd", true), Ok(String::new()));
        assert_eq!(
            read("/nonexistent/passwd", false),
            Err(LookupError::Read(
                "/nonexistent/passwd",
                "No such file or directory".into()
            ))
        );
        assert_eq!(
            read("/", true),
            Err(LookupError::Read("/", "not a regular file (a directory)".into()))
        );
    }
}
