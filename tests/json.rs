//! `--json` of list, status, show, images and cat against docs/json.md:
//! with a booted busybox machine whose image lies in a store of the test's
//! own with a settings file beside it, every field a verb's table documents
//! is present with its type, and no other field appears.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The documented fields of each verb: (field, type), `FIELD[].SUB` for
/// the fields of an array's objects.
fn schemas() -> BTreeMap<String, Vec<(String, String)>> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md")).unwrap();
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut verb = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## `berth ") {
            verb = h.split_whitespace().next().map(str::to_string);
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let (Some(v), [_, field, ty, ..]) = (&verb, cells.as_slice()) {
            if let Some(f) = field.strip_prefix('`').and_then(|f| f.strip_suffix('`')) {
                out.entry(v.clone()).or_default().push((f.to_string(), ty.to_string()));
            }
        }
    }
    // `list` prints an array of what `show` prints.
    let show = out.get("show").cloned().expect("docs/json.md documents show");
    out.insert("list".into(), show);
    out
}

fn has_type(v: &Value, ty: &str) -> bool {
    if let Some(inner) = ty.strip_suffix(" or null") {
        return v.is_null() || has_type(v, inner);
    }
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "array of string" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        "array of object" => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
        other => panic!("docs/json.md uses the type '{other}', which this test does not know"),
    }
}

/// `obj` has exactly the fields `fields` documents at this level (`prefix`
/// "" for the top, "processes[]." for an array's objects), each with its
/// type.
fn check_object(verb: &str, obj: &Value, fields: &[(String, String)], prefix: &str) {
    let o = obj.as_object().unwrap_or_else(|| panic!("berth {verb} --json: {obj} is not an object"));
    let here: BTreeMap<&str, &str> = fields
        .iter()
        .filter_map(|(f, t)| f.strip_prefix(prefix).filter(|r| !r.contains('.')).map(|r| (r, t.as_str())))
        .collect();
    for (f, ty) in &here {
        let v =
            o.get(*f).unwrap_or_else(|| panic!("berth {verb} --json: documented field {prefix}{f} is missing: {obj}"));
        assert!(has_type(v, ty), "berth {verb} --json: {prefix}{f} is {v}, documented as {ty}");
        if *ty == "array of object" {
            for item in v.as_array().unwrap() {
                check_object(verb, item, fields, &format!("{prefix}{f}[]."));
            }
        }
    }
    for k in o.keys() {
        assert!(here.contains_key(k.as_str()), "berth {verb} --json: field {prefix}{k} is not in docs/json.md: {obj}");
    }
}

fn json_of(args: &[&str]) -> Value {
    let mut c = berth();
    c.args(args);
    let out = run_to_end(c, QUICK);
    out.expect_code(0);
    assert_eq!(out.stdout.lines().count(), 1, "one line of JSON\n{}", out.describe());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", out.describe()))
}

#[test]
fn every_documented_field_and_no_other() {
    require(&[]);
    let schemas = schemas();
    for v in ["list", "status", "show", "images", "cat"] {
        assert!(schemas.contains_key(v), "docs/json.md has no section for berth {v}");
    }
    let fx = fixture("busybox");
    let s = Scratch::new("hdjson");
    std::fs::create_dir(s.path("store")).unwrap();
    let name = format!("hd-json-{}", std::process::id());
    let tree = tree_copy(&s, &fx, &format!("store/{name}"));
    write_file(&tree.join("etc/inittab"), "::sysinit:/bin/echo hd-init-up\n::respawn:/bin/sleep 100000\n");
    write_file(&s.path(&format!("store/{name}.nspawn")), "[Exec]\nEnvironment=HD_JSON=1\n");
    let store = s.path("store");
    let store = store.to_str().unwrap();
    let _l = host_lock_shared();
    let mut c = berth();
    c.args(["boot", "-q", "--image-root", store, &name]);
    let mut bg = Bg::spawn(c, s.path("boot.log"));
    let leader = wait_guest_init(&mut bg, &name, QUICK);
    poll(QUICK, || bg.output().contains("hd-init-up").then_some(()))
        .unwrap_or_else(|| panic!("busybox init did not start\n{}", bg.describe()));

    let list = json_of(&["list", "--json"]);
    let all = list.as_array().expect("list --json is an array");
    for m in all {
        check_object("list", m, &schemas["list"], "");
    }
    let mine = all.iter().find(|m| m["name"] == name.as_str()).unwrap_or_else(|| panic!("{name} not listed: {list}"));
    assert_eq!(mine["leader"], leader);
    let show = json_of(&["show", &name, "--json"]);
    check_object("show", &show, &schemas["show"], "");
    assert_eq!(show["leader"], leader);
    // The guest's init and its respawned sleep.
    let mut status = json_of(&["status", &name, "--json"]);
    poll(QUICK, || {
        status = json_of(&["status", &name, "--json"]);
        (status["tasks"].as_u64() >= Some(2)).then_some(())
    });
    check_object("status", &status, &schemas["status"], "");
    assert!(status["processes"].as_array().unwrap().iter().any(|p| p["pid"] == leader), "{status}");
    let images = json_of(&["images", "--json", "--image-root", store]);
    for i in images.as_array().expect("images --json is an array") {
        check_object("images", i, &schemas["images"], "");
    }
    assert!(
        images.as_array().unwrap().iter().any(|i| i["name"] == name.as_str() && i["type"] == "directory"),
        "{images}"
    );
    let cat = json_of(&["cat", &name, "--json", "--image-root", store]);
    check_object("cat", &cat, &schemas["cat"], "");
    assert!(cat["trusted"] == false && cat["text"].as_str().unwrap().contains("HD_JSON=1"), "{cat}");

    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}
