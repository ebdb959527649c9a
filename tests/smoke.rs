use singlewriter::{named_params, params, Statement, Status, Writer};

fn db(name: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let cs = format!("Data Source={}", path.display());
    (dir, cs)
}

#[test]
fn smoke() {
    let (_d, cs) = db("smoke.db");
    let w = Writer::open(&cs).unwrap();
    w.execute("CREATE TABLE items(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, value INTEGER NOT NULL)", &[]).unwrap();
    let r = w
        .execute(
            "INSERT INTO items(name, value) VALUES (@name, @value)",
            &named_params! {"@name" => "a", "value" => 1},
        )
        .unwrap();
    assert_eq!(r.rows_affected, 1);
    assert_eq!(r.last_insert_rowid, 1);
    let rows = w
        .read("items:count", "SELECT count(*) FROM items", &[])
        .unwrap();
    assert_eq!(rows.get(0, 0).unwrap().as_i64(), 1);
    w.execute(
        "INSERT INTO items(name, value) VALUES (?, ?)",
        &params!["b", 2],
    )
    .unwrap();
    let rows = w
        .read("items:count", "SELECT count(*) FROM items", &[])
        .unwrap();
    assert_eq!(rows.get(0, 0).unwrap().as_i64(), 2);
    let e = w
        .batch(
            vec![
                Statement::new("INSERT INTO items(name, value) VALUES ('c', 3)", vec![]),
                Statement::new("INSERT INTO items(name, value) VALUES ('c', 3)", vec![]),
            ],
            true,
        )
        .unwrap_err();
    assert_eq!(e.status(), Status::Constraint, "{e}");
    let n = w
        .transaction(|t| {
            t.execute("INSERT INTO items(name, value) VALUES ('t', 10)", &[])?;
            Ok(t.query("SELECT sum(value) FROM items", &[])?
                .get(0, 0)
                .unwrap()
                .as_i64())
        })
        .unwrap();
    assert_eq!(n, 13);
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..100 {
        let tx = tx.clone();
        w.enqueue(
            "INSERT INTO items(name, value) VALUES (?, ?)",
            params![format!("q{i}"), i],
            Some(Box::new(move |r| {
                tx.send(r.is_ok()).unwrap();
            })),
        )
        .unwrap();
    }
    w.flush(None).unwrap();
    let oks = (0..100).map(|_| rx.recv().unwrap()).filter(|x| *x).count();
    assert_eq!(oks, 100);
    let rows = w.query("SELECT count(*) FROM items", &[]).unwrap();
    assert_eq!(rows.get(0, 0).unwrap().as_i64(), 103);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let cs = cs.clone();
            std::thread::spawn(move || {
                let w = Writer::open(&cs).unwrap();
                for i in 0..200 {
                    w.execute(
                        "INSERT INTO items(name, value) VALUES (?, ?)",
                        &params![format!("t{t}-{i}"), i],
                    )
                    .unwrap();
                }
                w.close().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rows = w.query("SELECT count(*) FROM items", &[]).unwrap();
    assert_eq!(rows.get(0, 0).unwrap().as_i64(), 1703);
    let st = w.stats().unwrap();
    eprintln!("{st:?}");
    w.close().unwrap();
}
