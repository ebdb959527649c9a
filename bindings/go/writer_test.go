package singlewriter

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var ctx = context.Background()

// openTemp opens a writer on a fresh database file in a temp dir and closes it
// when the test ends. It returns the writer and the file's path.
func openTemp(t testing.TB, options string) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	w, err := Open("Data Source=" + path + ";Sample Rate=1" + options)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w, path
}

// itemsSchema is the original test suite's table.
func itemsSchema(t testing.TB, w *Writer, unique bool) {
	t.Helper()
	u := ""
	if unique {
		u = " UNIQUE"
	}
	if _, err := w.Exec(ctx, "CREATE TABLE IF NOT EXISTS Items (Id INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT NOT NULL"+u+", Value INTEGER NOT NULL)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
}

func mustExec(t testing.TB, w *Writer, sql string, args ...any) Result {
	t.Helper()
	r, err := w.Exec(ctx, sql, args...)
	if err != nil {
		t.Fatalf("Exec(%q): %v", sql, err)
	}
	return r
}

// scalar runs an uncached query that returns one integer.
func scalar(t testing.TB, w *Writer, sql string, args ...any) int64 {
	t.Helper()
	rows, err := w.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("Query(%q): %v", sql, err)
	}
	return firstInt(t, rows)
}

func firstInt(t testing.TB, rows *Rows) int64 {
	t.Helper()
	if !rows.Next() {
		t.Fatalf("no rows")
	}
	var n int64
	if err := rows.Scan(&n); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return n
}

func signalNames(t testing.TB, w *Writer, pattern string) []string {
	t.Helper()
	sigs, err := w.Signals(pattern, 0)
	if err != nil {
		t.Fatalf("Signals(%q): %v", pattern, err)
	}
	names := make([]string, len(sigs))
	for i, s := range sigs {
		names[i] = s.String()
	}
	return names
}

// --- ported from the original's SqliteSingleWriterTests ---

func TestMultipleWritesAndReads(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, false)
	for i := 1; i <= 3; i++ {
		r := mustExec(t, w, "INSERT INTO Items (Name, Value) VALUES (@Name, @Value)",
			Named("Name", fmt.Sprintf("item%d", i)), Named("Value", i))
		if r.RowsAffected != 1 || r.LastInsertID != int64(i) {
			t.Fatalf("insert %d: got %+v", i, r)
		}
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM Items"); n != 3 {
		t.Fatalf("count = %d, want 3", n)
	}
	rows, err := w.Query(ctx, "SELECT Value FROM Items ORDER BY Id")
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("values = %v, want [1 2 3]", got)
	}
}

func TestReadCachesUntilInvalidatedByExecAndInvalidate(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, false)
	mustExec(t, w, "INSERT INTO Items (Name, Value) VALUES ('a', 1)")

	const q = "SELECT COUNT(*) FROM Items"
	for i := 0; i < 2; i++ {
		rows, err := w.Read(ctx, "items:count", q)
		if err != nil {
			t.Fatal(err)
		}
		if n := firstInt(t, rows); n != 1 {
			t.Fatalf("read %d: count = %d, want 1", i, n)
		}
	}
	// The query ran once: one miss (one read.start), then a hit.
	if got := signalNames(t, w, "read.start:items:count"); len(got) != 1 {
		t.Fatalf("read.start signals = %v, want exactly one", got)
	}
	cs, err := w.CacheStats()
	if err != nil {
		t.Fatal(err)
	}
	if cs.Misses != 1 || cs.Hits != 1 {
		t.Fatalf("cache stats = %+v, want 1 miss and 1 hit", cs)
	}

	if _, err := w.ExecAndInvalidate(ctx, []string{"items:count"}, "INSERT INTO Items (Name, Value) VALUES ('b', 2)"); err != nil {
		t.Fatal(err)
	}
	rows, err := w.Read(ctx, "items:count", q)
	if err != nil {
		t.Fatal(err)
	}
	if n := firstInt(t, rows); n != 2 {
		t.Fatalf("after invalidation: count = %d, want 2", n)
	}
	if got := signalNames(t, w, "read.start:items:count"); len(got) != 2 {
		t.Fatalf("read.start signals = %v, want two (query re-ran)", got)
	}
}

func TestReadCachesUntilInvalidate(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, false)
	read := func() int64 {
		rows, err := w.Read(ctx, "items:count", "SELECT COUNT(*) FROM Items")
		if err != nil {
			t.Fatal(err)
		}
		return firstInt(t, rows)
	}
	if n := read(); n != 0 {
		t.Fatalf("count = %d", n)
	}
	if n := read(); n != 0 {
		t.Fatalf("count = %d", n)
	}
	mustExec(t, w, "INSERT INTO Items (Name, Value) VALUES ('a', 1)")
	if err := w.Invalidate("items:*"); err != nil {
		t.Fatal(err)
	}
	if n := read(); n != 1 {
		t.Fatalf("after Exec + Invalidate: count = %d, want 1", n)
	}
	if got := signalNames(t, w, "cache.invalidate:items:*"); len(got) == 0 {
		t.Fatalf("no cache.invalidate signal")
	}
}

func TestTransactionalBatchRollsBackOnUniqueFailure(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, true)
	_, err := w.Batch(ctx, []Statement{
		Stmt("INSERT INTO Items (Name, Value) VALUES (@Name, @Value)", Named("Name", "dup"), Named("Value", 1)),
		Stmt("INSERT INTO Items (Name, Value) VALUES (@Name, @Value)", Named("Name", "dup"), Named("Value", 2)),
	}, true)
	if !errors.Is(err, ErrConstraint) {
		t.Fatalf("err = %v, want ErrConstraint", err)
	}
	var se *Error
	if !errors.As(err, &se) || !strings.Contains(strings.ToUpper(se.Message), "UNIQUE") {
		t.Fatalf("error message %q does not mention UNIQUE", err)
	}
	if se.SQLiteCode != 2067 { // SQLITE_CONSTRAINT_UNIQUE
		t.Errorf("SQLiteCode = %d, want 2067", se.SQLiteCode)
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM Items"); n != 0 {
		t.Fatalf("count = %d, want 0 (rolled back)", n)
	}
}

func TestNonTransactionalBatchKeepsStatementsBeforeTheFailure(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, true)
	_, err := w.Batch(ctx, []Statement{
		Stmt("INSERT INTO Items (Name, Value) VALUES (?, ?)", "dup", 1),
		Stmt("INSERT INTO Items (Name, Value) VALUES (?, ?)", "dup", 2),
	}, false)
	if !errors.Is(err, ErrConstraint) {
		t.Fatalf("err = %v, want ErrConstraint", err)
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM Items"); n != 1 {
		t.Fatalf("count = %d, want 1 (partial commit)", n)
	}
}

func TestBatchSumsRowsAffected(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, false)
	r, err := w.Batch(ctx, []Statement{
		Stmt("INSERT INTO Items (Name, Value) VALUES ('a', 1)"),
		Stmt("INSERT INTO Items (Name, Value) VALUES ('b', 2)"),
		Stmt("UPDATE Items SET Value = Value + 1"),
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.RowsAffected != 4 {
		t.Fatalf("RowsAffected = %d, want 4", r.RowsAffected)
	}
}

func TestTxReturnsValueAndCommits(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, false)
	sum, err := TxValue(ctx, w, func(tx *Tx) (int64, error) {
		if _, err := tx.Exec("INSERT INTO Items (Name, Value) VALUES (@Name, @Value)", Named("Name", "tx"), Named("Value", 10)); err != nil {
			return 0, err
		}
		rows, err := tx.Query("SELECT SUM(Value) FROM Items")
		if err != nil {
			return 0, err
		}
		return rows.Value(0, 0).(int64), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum != 10 {
		t.Fatalf("sum = %d, want 10", sum)
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM Items"); n != 1 {
		t.Fatalf("count = %d, want 1 (committed)", n)
	}
}

func TestWALAndForeignKeysEnforced(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, `CREATE TABLE Parents (Id INTEGER PRIMARY KEY);
		CREATE TABLE Children (Id INTEGER PRIMARY KEY, ParentId INTEGER NOT NULL REFERENCES Parents(Id));`)
	_, err := w.Exec(ctx, "INSERT INTO Children (Id, ParentId) VALUES (1, 999)")
	if !errors.Is(err, ErrConstraint) {
		t.Fatalf("orphan insert: err = %v, want ErrConstraint (foreign keys on)", err)
	}
	rows, err := w.Query(ctx, "PRAGMA journal_mode")
	if err != nil {
		t.Fatal(err)
	}
	if mode, _ := rows.Value(0, 0).(string); !strings.EqualFold(mode, "wal") {
		t.Fatalf("journal_mode = %v, want wal", rows.Value(0, 0))
	}
}

func TestSignalsAreEmittedForLifecycleAndCache(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, false)
	mustExec(t, w, "INSERT INTO Items (Name, Value) VALUES ('a', 1)")
	if _, err := w.Read(ctx, "items:count", "SELECT COUNT(*) FROM Items"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecAndInvalidate(ctx, []string{"items:count"}, "INSERT INTO Items (Name, Value) VALUES ('b', 2)"); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	all := signalNames(t, w, "")
	has := func(prefix string) bool {
		for _, n := range all {
			if strings.HasPrefix(n, prefix) {
				return true
			}
		}
		return false
	}
	for _, want := range []string{
		"write.start", "write.done",
		"write.flush.start", "write.flush.done",
		"cache.miss:items:count", "cache.set:items:count", "cache.invalidate:items:count",
		"read.start:items:count", "read.done:items:count",
	} {
		if !has(want) {
			t.Errorf("no signal %q among %v", want, all)
		}
	}
	// Patterns filter on the full form.
	for _, n := range signalNames(t, w, "write.*") {
		if !strings.HasPrefix(n, "write.") {
			t.Errorf("pattern write.* returned %q", n)
		}
	}
	// Incremental polling: nothing after the last seq.
	sigs, _ := w.Signals("", 0)
	last := sigs[len(sigs)-1].Seq
	more, err := w.Signals("", last)
	if err != nil || len(more) != 0 {
		t.Fatalf("Signals after last seq = %v, %v; want none", more, err)
	}
}

func TestSignalsCarryStatusDurationAndRows(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, false)
	mustExec(t, w, "INSERT INTO Items (Name, Value) VALUES ('a', 1), ('b', 2)")
	sigs, err := w.Signals("write.done*", 0)
	if err != nil || len(sigs) == 0 {
		t.Fatalf("write.done signals: %v %v", sigs, err)
	}
	s := sigs[len(sigs)-1]
	if s.Status != StatusOK || s.Rows != 2 || s.Duration < 0 || time.Since(s.Time) > time.Minute {
		t.Fatalf("last write.done = %+v, want OK, 2 rows, timed, recent", s)
	}
}

func TestNamedParametersBind(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (Id INTEGER PRIMARY KEY, Name TEXT)")
	mustExec(t, w, "INSERT INTO T (Id, Name) VALUES (@Id, @Name)", Named("Id", 42), Named("Name", "bob"))
	mustExec(t, w, "INSERT INTO T (Id, Name) VALUES (:Id, :Name)", Named("@Id", 43), sql.Named("Name", "carol"))
	mustExec(t, w, "INSERT INTO T (Id, Name) VALUES ($Id, $Name)", Named("$Id", 44), Named("$Name", "dave"))
	rows, err := w.Read(ctx, "test-dict", "SELECT Name FROM T WHERE Id = @Id", Named("Id", 42))
	if err != nil {
		t.Fatal(err)
	}
	if got := rows.Value(0, 0); got != "bob" {
		t.Fatalf("name = %v, want bob", got)
	}
	rows, err = w.Query(ctx, "SELECT Name FROM T ORDER BY Id")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintln(rows.Value(0, 0), rows.Value(1, 0), rows.Value(2, 0)); got != "bob carol dave\n" {
		t.Fatalf("names = %s", got)
	}
	// A parameter the SQL does not have is refused, naming it.
	_, err = w.Exec(ctx, "INSERT INTO T (Id, Name) VALUES (@Id, @Name)", Named("Id", 45), Named("Name", "x"), Named("Extra", 1))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "Extra") {
		t.Fatalf("extra parameter: err = %v, want ErrInvalidArgument naming Extra", err)
	}
}

// --- binding behaviour ---

func TestValuesRoundTrip(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE V (i, f, s, b, n, t, f32, u)")
	type myInt int16
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	var nilPtr *int
	mustExec(t, w, "INSERT INTO V VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		int64(-7), 2.5, "héllo\x00wörld", []byte{0, 1, 2}, nil, true, float32(1.5), uint8(200))
	mustExec(t, w, "INSERT INTO V VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		myInt(3), now, "", []byte{}, nilPtr, false, []byte(nil), uint64(1<<62))
	rows, err := w.Query(ctx, "SELECT i, f, s, b, n, t, f32, u, typeof(b) FROM V ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows.Columns(), ","); got != "i,f,s,b,n,t,f32,u,typeof(b)" {
		t.Fatalf("columns = %s", got)
	}
	r0 := rows.Row(0)
	want0 := []any{int64(-7), 2.5, "héllo\x00wörld", []byte{0, 1, 2}, nil, int64(1), 1.5, int64(200), "blob"}
	if fmt.Sprintf("%#v", r0) != fmt.Sprintf("%#v", want0) {
		t.Fatalf("row 0 = %#v\nwant    %#v", r0, want0)
	}
	r1 := rows.Row(1)
	want1 := []any{int64(3), "2024-05-06 07:08:09+00:00", "", []byte{}, nil, int64(0), nil, int64(1 << 62), "blob"}
	if fmt.Sprintf("%#v", r1) != fmt.Sprintf("%#v", want1) {
		t.Fatalf("row 1 = %#v\nwant    %#v", r1, want1)
	}
	m := rows.Maps()
	if m[0]["s"] != "héllo\x00wörld" {
		t.Fatalf("Maps: %v", m[0])
	}
	_, err = w.Exec(ctx, "INSERT INTO V (i) VALUES (?)", uint64(1<<63))
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("uint64 overflow: err = %v, want ErrInvalidArgument", err)
	}
	_, err = w.Exec(ctx, "INSERT INTO V (i) VALUES (?)", struct{}{})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unsupported type: err = %v, want ErrInvalidArgument", err)
	}
}

// Results larger than the binding's first buffer take a second copy; text,
// blobs, NULLs and numbers must survive either path intact.
func TestLargeResultsRoundTrip(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE L (id INTEGER PRIMARY KEY, t TEXT, b BLOB, f REAL)")
	big := strings.Repeat("x", 100<<10)
	blob := make([]byte, 70<<10)
	for i := range blob {
		blob[i] = byte(i)
	}
	mustExec(t, w, "INSERT INTO L VALUES (1, ?, ?, 1.5)", big, blob)
	for i := 2; i <= 300; i++ {
		mustExec(t, w, "INSERT INTO L VALUES (?, ?, NULL, ?)", i, fmt.Sprintf("row-%d", i), float64(i)/2)
	}
	for _, q := range []struct{ name, sql string }{
		{"small rows, >4KB total", "SELECT id, t, f FROM L WHERE id > 1 ORDER BY id"},
		{"one huge text cell", "SELECT t FROM L WHERE id = 1"},
		{"text and blob", "SELECT id, t, b, f FROM L ORDER BY id"},
	} {
		rows, err := w.Query(ctx, q.sql)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		cached, err := w.Read(ctx, "large:"+q.name, q.sql)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		if fmt.Sprint(rows.Maps()) != fmt.Sprint(cached.Maps()) {
			t.Fatalf("%s: Query and Read differ", q.name)
		}
		for i, row := range rows.All() {
			for c, name := range rows.Columns() {
				v := row[c]
				switch name {
				case "t":
					want := fmt.Sprintf("row-%d", row0id(rows, i))
					if row0id(rows, i) == 1 || q.name == "one huge text cell" {
						want = big
					}
					if v != want {
						t.Fatalf("%s: row %d t = %.20v...", q.name, i, v)
					}
				case "b":
					if row0id(rows, i) == 1 {
						if b, ok := v.([]byte); !ok || string(b) != string(blob) {
							t.Fatalf("%s: blob corrupted", q.name)
						}
					} else if v != nil {
						t.Fatalf("%s: row %d b = %v, want NULL", q.name, i, v)
					}
				case "f":
					if v != float64(row0id(rows, i))/2 && !(row0id(rows, i) == 1 && v == 1.5) {
						t.Fatalf("%s: row %d f = %v", q.name, i, v)
					}
				}
			}
		}
	}
}

// row0id is the id column of row i, or 1 when the result has no id column.
func row0id(rows *Rows, i int) int64 {
	if rows.Columns()[0] != "id" {
		return 1
	}
	return rows.Value(i, 0).(int64)
}

func TestErrClosedAfterCloseAndCloseTwiceIsSafe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, w, "CREATE TABLE T (x)")
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Exec(ctx, "INSERT INTO T VALUES (1)"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Exec after Close: %v, want ErrClosed", err)
	}
	if _, err := w.Query(ctx, "SELECT 1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Query after Close: %v, want ErrClosed", err)
	}
	if err := w.Enqueue(ctx, "INSERT INTO T VALUES (1)", nil, func(Result, error) { t.Error("callback fired") }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close: %v, want ErrClosed", err)
	}
	if _, err := w.Stats(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stats after Close: %v, want ErrClosed", err)
	}
}

func TestCloseWhileCallsAreRunning(t *testing.T) {
	w, err := Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, w, "CREATE TABLE T (x)")
	var wg sync.WaitGroup
	var ok, closed atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				_, err := w.Exec(ctx, "INSERT INTO T VALUES (?)", i)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrClosed):
					closed.Add(1)
				default:
					t.Errorf("Exec: %v", err)
				}
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	t.Logf("%d writes committed before close, %d refused with ErrClosed", ok.Load(), closed.Load())
}

func TestOpenTwiceSharesOneWriter(t *testing.T) {
	w1, path := openTemp(t, "")
	w2, err := Open("Data Source=" + path)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, w1, "CREATE TABLE T (x)")
	mustExec(t, w2, "INSERT INTO T VALUES (1)")
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if n := scalar(t, w1, "SELECT COUNT(*) FROM T"); n != 1 {
		t.Fatalf("count = %d", n)
	}
}

func TestEnqueueCallbackFiresExactlyOnce(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, true)
	const n = 500
	var calls [n]atomic.Int32
	var failures atomic.Int32
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("n%d", i)
		if i == n-1 {
			name = "n0" // the last one violates UNIQUE: its callback gets the error
		}
		err := w.Enqueue(ctx, "INSERT INTO Items (Name, Value) VALUES (?, ?)", []any{name, i}, func(r Result, err error) {
			calls[i].Add(1)
			if err != nil {
				if !errors.Is(err, ErrConstraint) {
					t.Errorf("write %d: %v", i, err)
				}
				failures.Add(1)
			} else if r.RowsAffected != 1 {
				t.Errorf("write %d: %+v", i, r)
			}
		})
		if err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // a second call, if any, would show up now
	for i := range calls {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("callback %d fired %d times", i, c)
		}
	}
	if failures.Load() != 1 {
		t.Fatalf("failures = %d, want 1", failures.Load())
	}
	if c := scalar(t, w, "SELECT COUNT(*) FROM Items"); c != n-1 {
		t.Fatalf("count = %d, want %d", c, n-1)
	}
}

func TestEnqueueCallbacksFireBeforeCloseReturns(t *testing.T) {
	w, err := Open(filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, w, "CREATE TABLE T (x)")
	const n = 200
	var fired atomic.Int32
	for i := 0; i < n; i++ {
		if err := w.Enqueue(ctx, "INSERT INTO T VALUES (?)", []any{i}, func(Result, error) { fired.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Enqueue(ctx, "INSERT INTO T VALUES (-1)", nil, nil); err != nil { // no callback
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fired.Load(); got != n {
		t.Fatalf("%d of %d callbacks fired by the time Close returned", got, n)
	}
}

func TestPanicInEnqueueCallbackIsRecovered(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (x)")
	got := make(chan any, 1)
	SetPanicHandler(func(r any, stack []byte) {
		if len(stack) == 0 {
			t.Error("empty stack")
		}
		got <- r
	})
	defer SetPanicHandler(nil)
	if err := w.Enqueue(ctx, "INSERT INTO T VALUES (1)", nil, func(Result, error) { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r != "boom" {
			t.Fatalf("recovered %v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("panic not reported")
	}
	// The library and the writer carry on.
	mustExec(t, w, "INSERT INTO T VALUES (2)")
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 2 {
		t.Fatalf("count = %d, want 2", n)
	}
}

func TestSixteenGoroutinesWritesAllAcknowledgedAndPresent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "concurrent.db")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, w, "CREATE TABLE T (g INTEGER NOT NULL, i INTEGER NOT NULL, PRIMARY KEY (g, i))")
	const goroutines, perG = 16, 250
	ids := make([][]int64, goroutines)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				r, err := w.Exec(ctx, "INSERT INTO T (g, i) VALUES (?, ?)", g, i)
				if err != nil {
					t.Errorf("g%d i%d: %v", g, i, err)
					return
				}
				if r.RowsAffected != 1 {
					t.Errorf("g%d i%d: %+v", g, i, r)
				}
				ids[g] = append(ids[g], r.LastInsertID)
			}
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for g := range ids {
		for _, id := range ids[g] {
			if seen[id] {
				t.Fatalf("rowid %d acknowledged twice", id)
			}
			seen[id] = true
		}
	}
	st, err := w.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v (mean group %.1f)", st, float64(st.Committed)/float64(max(st.Transactions, 1)))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen the file: every acknowledged row is there, in each goroutine's order.
	w2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if n := scalar(t, w2, "SELECT COUNT(*) FROM T"); n != goroutines*perG {
		t.Fatalf("count = %d, want %d", n, goroutines*perG)
	}
	for g := 0; g < goroutines; g++ {
		rows, err := w2.Query(ctx, "SELECT i FROM T WHERE g = ? ORDER BY rowid", g)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < perG; i++ {
			if v := rows.Value(i, 0).(int64); v != int64(i) {
				t.Fatalf("goroutine %d: row %d has i=%d; submission order not kept", g, i, v)
			}
		}
	}
}

func TestInvalidInputIsAnErrorNotACrash(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (s TEXT)")
	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"invalid UTF-8 in SQL", func() error { _, err := w.Exec(ctx, "INSERT INTO T VALUES ('\xff\xfe')"); return err }, ErrInvalidUTF8},
		{"invalid UTF-8 text value", func() error { _, err := w.Exec(ctx, "INSERT INTO T VALUES (?)", "bad\xc3\x28"); return err }, ErrInvalidUTF8},
		{"invalid UTF-8 parameter name", func() error { _, err := w.Exec(ctx, "INSERT INTO T VALUES (@s)", Named("\xff", "x")); return err }, ErrInvalidUTF8},
		{"invalid UTF-8 cache key", func() error { _, err := w.Read(ctx, "k\xff", "SELECT 1"); return err }, ErrInvalidUTF8},
		{"NUL in SQL", func() error { _, err := w.Exec(ctx, "INSERT INTO T VALUES (1)\x00; DROP TABLE T"); return err }, ErrInvalidArgument},
		{"SQL syntax error", func() error { _, err := w.Exec(ctx, "INSERT INTO nope VALUES ("); return err }, ErrSQL},
		{"empty SQL", func() error { _, err := w.Exec(ctx, ""); return err }, nil},
		{"missing parameter", func() error { _, err := w.Exec(ctx, "INSERT INTO T VALUES (@s)"); return err }, ErrInvalidArgument},
		{"write through Query", func() error { _, err := w.Query(ctx, "INSERT INTO T VALUES ('x')"); return err }, ErrReadOnly},
		{"bad option", func() error { _, err := Open("Data Source=x.db;No Such Option=1"); return err }, ErrInvalidArgument},
	}
	for _, c := range cases {
		err := c.run()
		if err == nil {
			if c.want != nil {
				t.Errorf("%s: no error, want %v", c.name, c.want)
			}
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
}

func TestCancelledContextSubmitsNothing(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (x)")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.Exec(cctx, "INSERT INTO T VALUES (1)"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Exec: %v", err)
	}
	if err := w.Enqueue(cctx, "INSERT INTO T VALUES (1)", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Enqueue: %v", err)
	}
	if _, err := w.Batch(cctx, []Statement{Stmt("INSERT INTO T VALUES (1)")}, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("Batch: %v", err)
	}
	if err := w.Tx(cctx, func(tx *Tx) error { t.Error("tx ran"); return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Tx: %v", err)
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
}

func TestTxErrorRollsBackAndIsReturned(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (x)")
	myErr := errors.New("changed my mind")
	err := w.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec("INSERT INTO T VALUES (1)"); err != nil {
			return err
		}
		return myErr
	})
	if err != myErr {
		t.Fatalf("err = %v, want %v", err, myErr)
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
}

func TestTxPanicRollsBackAndIsRaisedAgain(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (x)")
	func() {
		defer func() {
			if r := recover(); r != "tx boom" {
				t.Fatalf("recovered %v, want tx boom", r)
			}
		}()
		_ = w.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.Exec("INSERT INTO T VALUES (1)"); err != nil {
				return err
			}
			panic("tx boom")
		})
		t.Fatal("Tx returned normally")
	}()
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
	mustExec(t, w, "INSERT INTO T VALUES (2)") // the lane is free again
}

func TestBlockingCallsInsideTxAreMisuse(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (x)")
	var execErr, flushErr, closeErr error
	err := w.Tx(ctx, func(tx *Tx) error {
		_, execErr = w.Exec(ctx, "INSERT INTO T VALUES (1)")
		flushErr = w.Flush(ctx)
		closeErr = w.Close()
		_, err := tx.Exec("INSERT INTO T VALUES (2)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]error{"Exec": execErr, "Flush": flushErr, "Close": closeErr} {
		if !errors.Is(e, ErrMisuse) {
			t.Errorf("%s inside Tx: %v, want ErrMisuse", name, e)
		}
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 1 {
		t.Fatalf("count = %d, want 1", n)
	}
}

func TestTxUsedOutsideItsFunctionIsMisuse(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (x)")
	var kept *Tx
	var otherGoroutineErr error
	err := w.Tx(ctx, func(tx *Tx) error {
		kept = tx
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, otherGoroutineErr = tx.Exec("INSERT INTO T VALUES (1)")
		}()
		<-done
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(otherGoroutineErr, ErrMisuse) {
		t.Errorf("Tx from another goroutine: %v, want ErrMisuse", otherGoroutineErr)
	}
	if _, err := kept.Exec("INSERT INTO T VALUES (1)"); !errors.Is(err, ErrMisuse) {
		t.Errorf("Tx after return: %v, want ErrMisuse", err)
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
}

func TestSubscribeDeliversSignals(t *testing.T) {
	w, _ := openTemp(t, "")
	got := make(chan Signal, 100)
	sub, err := w.Subscribe("write.flush.*", func(s Signal) {
		select {
		case got <- s:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for !names["write.flush.done"] {
		select {
		case s := <-got:
			if !strings.HasPrefix(s.Name, "write.flush.") {
				t.Fatalf("pattern let through %v", s)
			}
			names[s.Name] = true
		case <-timeout:
			t.Fatalf("got %v, no write.flush.done", names)
		}
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatalf("second Unsubscribe: %v", err)
	}
}

func TestPanicInSubscriberIsRecovered(t *testing.T) {
	w, _ := openTemp(t, "")
	got := make(chan any, 10)
	SetPanicHandler(func(r any, _ []byte) {
		select {
		case got <- r:
		default:
		}
	})
	defer SetPanicHandler(nil)
	sub, err := w.Subscribe("custom.*", func(s Signal) { panic("sub " + s.String()) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := w.Raise("custom.event:k"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r != "sub custom.event:k" {
			t.Fatalf("recovered %v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("panic not reported")
	}
}

func TestRaiseCacheInvalidateSignalInvalidates(t *testing.T) {
	w, _ := openTemp(t, "")
	itemsSchema(t, w, false)
	if _, err := w.Read(ctx, "items:count", "SELECT COUNT(*) FROM Items"); err != nil {
		t.Fatal(err)
	}
	if err := w.Raise("cache.invalidate:items:count"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Read(ctx, "items:count", "SELECT COUNT(*) FROM Items"); err != nil {
		t.Fatal(err)
	}
	if got := signalNames(t, w, "read.start:items:count"); len(got) != 2 {
		t.Fatalf("read.start signals = %v, want two", got)
	}
}

func TestStatsCountWrites(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (x UNIQUE)")
	mustExec(t, w, "INSERT INTO T VALUES (1)")
	if _, err := w.Exec(ctx, "INSERT INTO T VALUES (1)"); !errors.Is(err, ErrConstraint) {
		t.Fatalf("dup: %v", err)
	}
	st, err := w.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Committed < 2 || st.Failed < 1 || st.Transactions < 1 {
		t.Fatalf("stats = %+v", st)
	}
	if _, err := w.MetricsText(); err != nil {
		t.Fatal(err)
	}
	if js, err := w.OperationsJSON(); err != nil || !strings.HasPrefix(js, "[") {
		t.Fatalf("OperationsJSON = %q, %v", js, err)
	}
}

func TestABIMismatchFailsClearly(t *testing.T) {
	err := checkABI(2, "9.9.9")
	if !errors.Is(err, ErrABIMismatch) {
		t.Fatalf("err = %v, want ErrABIMismatch", err)
	}
	for _, want := range []string{"ABI version 2", "ABI version 1", "9.9.9"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if err := checkABI(ABIVersion, "x"); err != nil {
		t.Fatal(err)
	}
}

// A Writer dropped without Close is closed by its cleanup: the database's
// writer goes away, so an Open with different options succeeds again (while it
// runs, an Open naming a different option value is refused).
func TestForgottenWriterIsClosedByCleanup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "forgotten.db")
	func() {
		w, err := Open("Data Source=" + path + ";Cache Size=10")
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, w, "CREATE TABLE T (x)")
		mustExec(t, w, "INSERT INTO T VALUES (1)")
		if w2, err := Open("Data Source=" + path + ";Cache Size=20"); err == nil {
			w2.Close()
			t.Fatal("an Open with a different Cache Size succeeded while the writer runs")
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		w, err := Open("Data Source=" + path + ";Cache Size=20")
		if err == nil {
			defer w.Close()
			if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 1 {
				t.Fatalf("count = %d, want 1", n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("writer never closed by its cleanup: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLibraryABIVersionMatches(t *testing.T) {
	if v := LibraryABIVersion(); v != ABIVersion {
		t.Fatalf("library ABI %d, binding %d", v, ABIVersion)
	}
	if LibraryVersion() == "" {
		t.Fatal("empty version")
	}
}
