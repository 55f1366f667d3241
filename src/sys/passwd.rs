//! Lookups in the guest's own /etc/passwd and /etc/group (never the host's
//! NSS: the guest's user database is what counts).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// Finds a user by name, or by number when `spec` is numeric.
pub fn find_user(passwd: &str, spec: &str) -> Option<User> {
    let numeric: Option<u32> = spec.parse().ok();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            continue;
        }
        let (Ok(uid), Ok(gid)) = (f[2].parse::<u32>(), f[3].parse::<u32>()) else {
            continue;
        };
        if f[0] == spec || numeric == Some(uid) {
            return Some(User { name: f[0].to_string(), uid, gid, home: f[5].to_string(), shell: f[6].to_string() });
        }
    }
    None
}

/// Supplementary groups of `user`: every group listing it as a member, plus
/// its primary group.
pub fn groups_of(group: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut gids = vec![primary];
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        let Ok(gid) = f[2].parse::<u32>() else {
            continue;
        };
        if f[3].split(',').any(|m| m == user) && !gids.contains(&gid) {
            gids.push(gid);
        }
    }
    gids
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nbroken\ntester:x:1000:1000:T:/home/tester:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nsudo:x:27:tester,other\ntester:x:1000:\naudio:x:29:other\n";

    #[test]
    fn finds_by_name_and_number() {
        let u = find_user(PASSWD, "tester").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/tester"));
        assert_eq!(find_user(PASSWD, "0").unwrap().name, "root");
        assert!(find_user(PASSWD, "nobody").is_none());
    }

    #[test]
    fn supplementary_groups() {
        assert_eq!(groups_of(GROUP, "tester", 1000), vec![1000, 27]);
        assert_eq!(groups_of(GROUP, "root", 0), vec![0]);
    }
}
