package singlewriter

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// openDB opens a database/sql handle on a fresh file through the driver.
func openDB(t testing.TB, options string) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sql.db")
	db, err := sql.Open(DriverName, "Data Source="+path+options)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("db.Close: %v", err)
		}
	})
	return db, path
}

func dbExec(t testing.TB, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) sql.Result {
	t.Helper()
	r, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("Exec(%q): %v", query, err)
	}
	return r
}

func dbCount(t testing.TB, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestSQLDriverExecQueryRowAndResult(t *testing.T) {
	db, _ := openDB(t, "")
	dbExec(t, db, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL)")
	r := dbExec(t, db, "INSERT INTO users (name, score) VALUES (?, ?)", "ada", 9.5)
	if id, err := r.LastInsertId(); err != nil || id != 1 {
		t.Fatalf("LastInsertId = %d, %v", id, err)
	}
	r = dbExec(t, db, "INSERT INTO users (name) VALUES (?), (?)", "bob", "cy")
	if n, err := r.RowsAffected(); err != nil || n != 2 {
		t.Fatalf("RowsAffected = %d, %v", n, err)
	}
	var name string
	var score float64
	if err := db.QueryRow("SELECT name, score FROM users WHERE id = ?", 1).Scan(&name, &score); err != nil {
		t.Fatal(err)
	}
	if name != "ada" || score != 9.5 {
		t.Fatalf("got %q %v", name, score)
	}
	err := db.QueryRow("SELECT name FROM users WHERE id = ?", 99).Scan(&name)
	if !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("missing row: %v, want sql.ErrNoRows", err)
	}
	rows, err := db.Query("SELECT id, name FROM users ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if cols, _ := rows.Columns(); len(cols) != 2 || cols[1] != "name" {
		t.Fatalf("columns %v", cols)
	}
	var got []string
	for rows.Next() {
		var id int
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%s", id, name))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "1:ada,2:bob,3:cy" {
		t.Fatalf("rows %v", got)
	}
}

// A custom sql.Scanner, as user code writes them.
type upper string

func (u *upper) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*u = upper(strings.ToUpper(v))
	case []byte:
		*u = upper(strings.ToUpper(string(v)))
	case nil:
		*u = ""
	default:
		return fmt.Errorf("upper: cannot scan %T", src)
	}
	return nil
}

// A driver.Valuer argument.
type csv []string

func (c csv) Value() (driver.Value, error) { return strings.Join(c, ","), nil }

func TestSQLDriverNullTypesScannersAndValuers(t *testing.T) {
	db, _ := openDB(t, "")
	dbExec(t, db, "CREATE TABLE t (s TEXT, i INTEGER, f REAL, b INTEGER, blob BLOB, tags TEXT)")
	dbExec(t, db, "INSERT INTO t VALUES (NULL, NULL, NULL, NULL, NULL, NULL)")
	dbExec(t, db, "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", "x", int64(-7), 2.5, true, []byte{0, 1, 2}, csv{"a", "b"})
	rows, err := db.Query("SELECT s, i, f, b, blob, tags, s FROM t ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type rec struct {
		s    sql.NullString
		i    sql.NullInt64
		f    sql.NullFloat64
		b    sql.NullBool
		blob []byte
		tags sql.Null[string]
		u    upper
	}
	var recs []rec
	for rows.Next() {
		var r rec
		if err := rows.Scan(&r.s, &r.i, &r.f, &r.b, &r.blob, &r.tags, &r.u); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 {
		t.Fatalf("%d rows", len(recs))
	}
	n := recs[0]
	if n.s.Valid || n.i.Valid || n.f.Valid || n.b.Valid || n.blob != nil || n.tags.Valid || n.u != "" {
		t.Fatalf("NULL row scanned as %+v", n)
	}
	v := recs[1]
	if v.s != (sql.NullString{String: "x", Valid: true}) || v.i.Int64 != -7 || v.f.Float64 != 2.5 || !v.b.Bool ||
		string(v.blob) != "\x00\x01\x02" || v.tags.V != "a,b" || v.u != "X" {
		t.Fatalf("values scanned as %+v", v)
	}
	// NULL into a plain string is database/sql's error, not a silent "".
	var s string
	if err := db.QueryRow("SELECT s FROM t WHERE rowid = 1").Scan(&s); err == nil {
		t.Fatal("NULL scanned into a string without an error")
	}
	// NULL arguments: nil, a nil pointer, an invalid Null*.
	var nilp *int
	dbExec(t, db, "INSERT INTO t (s, i, f) VALUES (?, ?, ?)", nil, nilp, sql.NullFloat64{})
	var nulls int
	if err := db.QueryRow("SELECT count(*) FROM t WHERE s IS NULL AND i IS NULL AND f IS NULL").Scan(&nulls); err != nil || nulls != 2 {
		t.Fatalf("NULL arguments: %d rows, %v", nulls, err)
	}
}

func TestSQLDriverNamedParameters(t *testing.T) {
	db, _ := openDB(t, "")
	dbExec(t, db, "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)")
	dbExec(t, db, "INSERT INTO kv VALUES (@k, @v)", sql.Named("k", "a"), sql.Named("v", 1))
	dbExec(t, db, "INSERT INTO kv VALUES (:k, :v)", sql.Named("v", 2), sql.Named("k", "b"))
	var v int
	if err := db.QueryRow("SELECT v FROM kv WHERE k = $k", sql.Named("k", "b")).Scan(&v); err != nil || v != 2 {
		t.Fatalf("named: %d, %v", v, err)
	}
}

func TestSQLDriverInsertReturningRunsOnTheWriter(t *testing.T) {
	db, _ := openDB(t, "")
	dbExec(t, db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	var id int64
	var v string
	if err := db.QueryRow("INSERT INTO t (v) VALUES (?) RETURNING id, v", "hello").Scan(&id, &v); err != nil {
		t.Fatal(err)
	}
	if id != 1 || v != "hello" {
		t.Fatalf("RETURNING gave %d %q", id, v)
	}
	if n := dbCount(t, db, "t"); n != 1 {
		t.Fatalf("count %d", n)
	}
}

func TestSQLDriverTxCommitRollbackAndOwnWrites(t *testing.T) {
	db, _ := openDB(t, "")
	dbExec(t, db, "CREATE TABLE t (v INTEGER UNIQUE)")
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dbExec(t, tx, "INSERT INTO t VALUES (1)")
	var inTx int
	if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&inTx); err != nil || inTx != 1 {
		t.Fatalf("tx does not see its own write: %d, %v", inTx, err)
	}
	if n := dbCount(t, db, "t"); n != 0 {
		t.Fatalf("uncommitted write visible outside the tx: %d", n)
	}
	// A failing statement fails alone; the transaction goes on.
	if _, err := tx.Exec("INSERT INTO t VALUES (1)"); !errors.Is(err, ErrConstraint) {
		t.Fatalf("duplicate in tx: %v", err)
	}
	dbExec(t, tx, "INSERT INTO t VALUES (2)")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, sql.ErrTxDone) {
		t.Fatalf("second Commit: %v", err)
	}
	if n := dbCount(t, db, "t"); n != 2 {
		t.Fatalf("after commit: %d rows", n)
	}
	tx, err = db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	dbExec(t, tx, "INSERT INTO t VALUES (3)")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := dbCount(t, db, "t"); n != 2 {
		t.Fatalf("after rollback: %d rows", n)
	}
}

// Writes from other goroutines wait while a transaction holds the lane, and
// commit after it: the transaction is serializable.
func TestSQLDriverTxHoldsTheWriterUntilCommit(t *testing.T) {
	db, _ := openDB(t, "")
	dbExec(t, db, "CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	dbExec(t, tx, "INSERT INTO log (who) VALUES ('tx')")
	outside := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO log (who) VALUES ('outside')")
		outside <- err
	}()
	select {
	case err := <-outside:
		t.Fatalf("a write outside committed while the tx was open: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	dbExec(t, tx, "INSERT INTO log (who) VALUES ('tx')")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-outside; err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT who FROM log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var order []string
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			t.Fatal(err)
		}
		order = append(order, w)
	}
	if strings.Join(order, ",") != "tx,tx,outside" {
		t.Fatalf("commit order %v", order)
	}
}

// database/sql rolls a transaction back when the context given to BeginTx
// ends; the lane is released and later writes go on.
func TestSQLDriverTxContextCancelRollsBack(t *testing.T) {
	db, _ := openDB(t, "")
	dbExec(t, db, "CREATE TABLE t (v INTEGER)")
	cctx, cancel := context.WithCancel(ctx)
	tx, err := db.BeginTx(cctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dbExec(t, tx, "INSERT INTO t VALUES (1)")
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := tx.Exec("INSERT INTO t VALUES (2)")
		if errors.Is(err, sql.ErrTxDone) || errors.Is(err, context.Canceled) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tx still usable after its context was cancelled: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	dbExec(t, db, "INSERT INTO t VALUES (3)") // the lane is free again
	var got []int
	rows, _ := db.Query("SELECT v FROM t")
	for rows.Next() {
		var v int
		_ = rows.Scan(&v)
		got = append(got, v)
	}
	rows.Close()
	if len(got) != 1 || got[0] != 3 {
		t.Fatalf("rows %v, want only the write after the rollback", got)
	}
	if _, err := db.BeginTx(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("BeginTx with a cancelled context: %v", err)
	}
}

func TestSQLDriverReadOnlyTxRefusesWrites(t *testing.T) {
	db, _ := openDB(t, "")
	dbExec(t, db, "CREATE TABLE t (v INTEGER)")
	dbExec(t, db, "INSERT INTO t VALUES (1)")
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelSerializable})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("read in read-only tx: %d %v", n, err)
	}
	if _, err := tx.Exec("INSERT INTO t VALUES (2)"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write in read-only tx: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestSQLDriverPreparedStatementsFromManyGoroutines(t *testing.T) {
	db, _ := openDB(t, "")
	db.SetMaxOpenConns(64)
	dbExec(t, db, "CREATE TABLE t (g INTEGER, i INTEGER, PRIMARY KEY (g, i))")
	ins, err := db.Prepare("INSERT INTO t (g, i) VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	sel, err := db.Prepare("SELECT count(*) FROM t WHERE g = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	const goroutines, perG = 32, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				if _, err := ins.Exec(g, i); err != nil {
					t.Errorf("insert: %v", err)
					return
				}
				var n int
				if err := sel.QueryRow(g).Scan(&n); err != nil || n != i+1 {
					t.Errorf("g%d sees %d rows after its write %d (%v)", g, n, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := dbCount(t, db, "t"); n != goroutines*perG {
		t.Fatalf("count %d", n)
	}
}

func TestSQLDriverColumnTypesAndPragmas(t *testing.T) {
	db, _ := openDB(t, "")
	dbExec(t, db, "CREATE TABLE t (i INTEGER, f REAL, s TEXT, b BLOB)")
	dbExec(t, db, "INSERT INTO t VALUES (1, 1.5, 'x', x'00')")
	rows, err := db.Query("SELECT i, f, s, b FROM t")
	if err != nil {
		t.Fatal(err)
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ct := range cts {
		names = append(names, ct.DatabaseTypeName()+"/"+ct.ScanType().String())
	}
	rows.Close()
	if got := strings.Join(names, " "); got != "INTEGER/int64 REAL/float64 TEXT/string BLOB/[]uint8" {
		t.Fatalf("column types %s", got)
	}
	dbExec(t, db, "PRAGMA user_version = 7")
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 7 {
		t.Fatalf("PRAGMA user_version = %d, %v", v, err)
	}
}

// db.Close closes the Writer: the file can be opened again at once, and a
// connector over a caller's Writer leaves it open.
func TestSQLDriverCloseAndNewConnector(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := sql.Open(DriverName, path)
	if err != nil {
		t.Fatal(err)
	}
	dbExec(t, db, "CREATE TABLE t (v INTEGER)")
	dbExec(t, db, "INSERT INTO t VALUES (1)")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	w, err := Open(path + "x")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustExec(t, w, "CREATE TABLE t (v INTEGER)")
	db2 := sql.OpenDB(NewConnector(w))
	dbExec(t, db2, "INSERT INTO t VALUES (2)")
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	if n := scalar(t, w, "SELECT count(*) FROM t"); n != 1 {
		t.Fatalf("the caller's Writer: %d rows, %v", n, err)
	}
}
