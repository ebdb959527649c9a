//! sqlx (0.9, its own bundled SQLite) the way its users set up SQLite in WAL: a writer pool with
//! one connection (so writes never contend for the lock) and a read-only reader pool. One
//! measurement per process; see `harness`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use harness::aio::{self, AsyncOp, BoxFut};
use harness::{
    die, report, Args, Clock, Extra, Fail, Op, Sampler, COUNT, INSERT, POINT, TEXT, UPDATE,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

/// Reader connections (the W4 thread count).
const READERS: u32 = 4;

fn main() {
    let args = Args::parse();
    match args.contender.as_str() {
        "sqlx" => run(&args),
        other => die(&format!("unknown contender {other}")),
    }
}

fn no_edge() -> impl FnMut() {
    || {}
}

fn fail(e: sqlx::Error) -> Fail {
    let busy = match &e {
        sqlx::Error::Database(d) => matches!(
            d.code().as_deref(),
            Some("5") | Some("6") | Some("517") | Some("261") | Some("262")
        ),
        _ => false,
    };
    if busy {
        Fail::Busy(e.to_string())
    } else if matches!(e, sqlx::Error::PoolTimedOut) {
        Fail::Timeout(e.to_string())
    } else {
        Fail::Other(e.to_string())
    }
}

async fn count(pool: &SqlitePool) -> i64 {
    sqlx::query(COUNT)
        .fetch_one(pool)
        .await
        .map(|r| r.get::<i64, _>(0))
        .unwrap_or(-1)
}

fn run(args: &Args) {
    let rt = aio::runtime();
    let sync = if args.sync == "FULL" {
        SqliteSynchronous::Full
    } else {
        SqliteSynchronous::Normal
    };
    let (writer, reader, version) = rt.block_on(async {
        let base = SqliteConnectOptions::from_str(&format!("sqlite://{}", args.db.display()))
            .unwrap_or_else(|e| die(&format!("options: {e}")))
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sync)
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(base.clone())
            .await
            .unwrap_or_else(|e| die(&format!("writer pool: {e}")));
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(base.read_only(true))
            .await
            .unwrap_or_else(|e| die(&format!("reader pool: {e}")));
        let version: String = sqlx::query("SELECT sqlite_version()")
            .fetch_one(&writer)
            .await
            .map(|r| r.get(0))
            .unwrap_or_default();
        (writer, reader, version)
    });
    let mut x = Extra {
        sqlite_version: version,
        library: "sqlx 0.9.0 (sqlx-sqlite, libsqlite3-sys 0.37)".into(),
        txn_note: if args.workload == "w3" { String::new() } else { "1 (autocommit)".into() },
        rows_before: rt.block_on(count(&writer)),
        note: format!("writer pool max_connections(1) + read-only reader pool max_connections({READERS}); busy_timeout 5 s"),
        ..Extra::default()
    };
    let op: AsyncOp = {
        let (writer, reader) = (writer.clone(), reader.clone());
        Arc::new(move |_w, op: Op| -> BoxFut {
            let (writer, reader) = (writer.clone(), reader.clone());
            Box::pin(async move {
                let r =
                    match op {
                        Op::Insert { a } => sqlx::query(INSERT)
                            .bind(a)
                            .bind(TEXT)
                            .execute(&writer)
                            .await
                            .map(|_| ()),
                        Op::Update { id, a } => sqlx::query(UPDATE)
                            .bind(id)
                            .bind(a)
                            .execute(&writer)
                            .await
                            .map(|_| ()),
                        Op::Read { id } => sqlx::query(POINT)
                            .bind(id)
                            .fetch_one(&reader)
                            .await
                            .map(|r| {
                                std::hint::black_box((r.get::<i64, _>(0), r.get::<String, _>(1)));
                            }),
                    };
                r.map_err(fail)
            })
        })
    };
    let clock = Arc::new(Clock::default());
    let t = match args.workload.as_str() {
        "w1" | "w3" | "w4" => aio::tasks(
            &rt,
            args,
            &clock,
            args.producers,
            op,
            &mut no_edge(),
            &mut no_edge(),
        ),
        "w2" => {
            let (t, flow) = aio::pipelined(
                &rt,
                args,
                &clock,
                args.producers,
                args.window,
                op,
                &mut no_edge(),
                &mut no_edge(),
            );
            x.flow = Some(flow);
            t
        }
        "w5" => {
            let sampler = Sampler::start(None);
            let (t, flow) = aio::overload(
                &rt,
                args,
                &clock,
                args.producers,
                op,
                &mut no_edge(),
                &mut no_edge(),
            );
            x.flow = Some(flow);
            x.rss_kb = Some(sampler.finish().0);
            if !flow.drained {
                report(args, &clock, &t, &x); // exits: the backlog outlived the drain deadline
            }
            x.note.push_str(
                "; writes wait in the pool's acquire queue (unbounded; acquire_timeout 30 s)",
            );
            t
        }
        _ => die("unknown workload"),
    };
    x.rows_after = rt.block_on(async {
        let n = count(&writer).await;
        writer.close().await;
        reader.close().await;
        n
    });
    report(args, &clock, &t, &x);
}
