// Package singlewriter is the Go binding of libsinglewriter: one coordinated,
// group-committing writer per SQLite database, a self-invalidating read cache,
// and named signals, behind a C ABI.
//
// Writes from any number of goroutines go through one queue and are committed
// in groups; a call returns once the transaction holding its write committed.
// Reads run concurrently on read-only connections, and [Writer.Read] caches
// results under a key until the key is invalidated or a table they read
// changes.
//
//	w, err := singlewriter.Open("Data Source=app.db")
//	if err != nil { ... }
//	defer w.Close()
//	_, err = w.Exec(ctx, "INSERT INTO users(name) VALUES (@name)", singlewriter.Named("name", "alice"))
//	rows, err := w.Read(ctx, "users:count", "SELECT COUNT(*) FROM users")
//
// # Values
//
// Arguments map onto SQLite types: signed and unsigned integers and bool →
// INTEGER (bool as 0/1; unsigned values above MaxInt64 are refused), float32
// and float64 → FLOAT, string → TEXT, []byte → BLOB (a nil slice is NULL), nil
// → NULL, time.Time → TEXT ("2006-01-02 15:04:05.999999999-07:00"),
// driver.Valuer → its value, pointers → what they point to (nil is NULL).
// Arguments are positional (?1, ?2, ...) unless wrapped in [Named] (or
// sql.Named). Results are copied into [Rows] as int64, float64, string, []byte
// or nil.
//
// # Contexts
//
// Every call that submits work checks its context first and returns ctx.Err()
// without submitting when it is done. Tx, Batch and Query calls that wait in
// Go for their turn (see below) give up with ctx.Err() when ctx ends, having
// submitted nothing. A submitted write cannot be withdrawn (the C ABI has no
// cancel): the call then waits for its real outcome whatever happens to ctx.
// [Writer.Flush] also takes its timeout from the context's deadline.
//
// # Waiting without OS threads
//
// When many Exec calls of a handle are in flight, each is queued and its
// goroutine parks on a channel; one goroutine per process collects completions
// in batches (one cgo call per batch) and wakes the waiters, so many waiting
// writers cost no OS thread each. A lone Exec, or any while at most 4 have
// been in flight at once recently, blocks in C and may lead its own group on
// its own thread (lower latency when there is little to group). Tx and multi-statement Batch calls (blocking in the C ABI) wait
// behind a per-handle gate in Go, and Query calls behind one the size of the
// read pool. See park.go.
//
// # database/sql
//
// The package registers the driver "singlewriter" ([DriverName]): writes
// through the writer lane, queries through the read pool, BeginTx on the
// writer lane (serializable). See driver.go.
//
// # Errors
//
// Failures are *[Error] values carrying the library status, SQLite's extended
// result code and message; compare them with errors.Is against [ErrConstraint],
// [ErrBusy], [ErrClosed] and the other Err* sentinels.
//
// # Callbacks
//
// Enqueue completions and signal subscribers run on library threads and reach
// Go through runtime/cgo handles. Panics in them are recovered (see
// [SetPanicHandler]); a panic in a [Writer.Tx] function rolls the transaction
// back and is re-raised from Tx once the C frames are gone.
//
// # Linking
//
// The package links libsinglewriter.so from ../../target/release (relative to
// this directory, with an rpath to it), so `cargo build --release` at the
// repository root is all `go test` needs. To use a library elsewhere, set
// CGO_LDFLAGS="-L$DIR -Wl,-rpath,$DIR" (and CGO_CFLAGS="-I$INCLUDE" for another
// header); test.sh does this from SW_LIB_DIR and SW_INCLUDE_DIR.
//
// # Cost
//
// Each call is one cgo call (a result over 4 KiB takes a second). Errors are
// copied out of the library's thread-local state inside that call. Results are
// copied into Go memory, so Rows need no Close; a cached Read costs about
// 0.35 µs more than the same call from C (see bench_test.go, which measures
// both in one process).
package singlewriter
