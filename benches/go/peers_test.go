// Package peers benchmarks the singlewriter Go binding against the ways Go programs write to
// SQLite today: mattn/go-sqlite3 (cgo) and modernc.org/sqlite (pure Go), each used as a
// database/sql writer pool with SetMaxOpenConns(1) and _txlock=immediate plus a read-only
// reader pool ("split"), and as one plain pool of many connections with a busy timeout
// ("multi"). Workloads W1–W4 of the suite (benches/run.sh); the same schema and SQL for all.
//
//	go test -run '^$' -bench . -count 3 -benchtime 0.3s .   # full (run.sh does this)
//	SW_GO_QUICK=1 go test -run '^$' -bench . -benchtime 100x .
//
// Every benchmark reports writes/s, reads/s or ops/s, p50-µs and p99-µs (submit to
// acknowledgement as the caller sees it) and busy (SQLITE_BUSY errors the callers saw); a
// write that fails otherwise fails the benchmark. Each run of a benchmark function gets a
// fresh database file.
package peers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	sw "github.com/singlewriter/singlewriter/bindings/go"
	"modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

const (
	schema  = "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT)"
	insert  = "INSERT INTO t(a, b) VALUES (?1, ?2)"
	update  = "UPDATE t SET a = ?2 WHERE id = ?1"
	point   = "SELECT a, b FROM t WHERE id = ?1"
	text    = "payload-text"
	rows    = 10_000
	hotKeys = 512
	window  = 256
)

var quick = os.Getenv("SW_GO_QUICK") == "1"

// contender is one way of talking to SQLite.
type contender interface {
	insert(ctx context.Context, a int64) error
	update(ctx context.Context, id, a int64) error
	read(ctx context.Context, id int64, cached bool) error
	// enqueue submits a write without waiting; done runs once with its outcome. nil when the
	// contender has no such API (W2 then runs 256 goroutines per producer instead).
	enqueuer() func(a int64, done func(error)) error
	count() (int64, error)
	close() error
}

var names = []string{"singlewriter", "mattn-split", "mattn-multi", "modernc-split", "modernc-multi"}

func open(name, path, sync string, maxConns int) (contender, error) {
	switch name {
	case "singlewriter":
		w, err := sw.Open(fmt.Sprintf("Data Source=%s;Synchronous=%s", path, sync))
		if err != nil {
			return nil, err
		}
		return &swC{w: w}, nil
	case "mattn-split":
		wr, err := dbOpen("sqlite3", fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=%s&_busy_timeout=5000&_txlock=immediate", path, sync), 1)
		if err != nil {
			return nil, err
		}
		rd, err := dbOpen("sqlite3", fmt.Sprintf("file:%s?mode=ro&_busy_timeout=5000", path), 4)
		return &dbC{w: wr, r: rd}, err
	case "mattn-multi":
		db, err := dbOpen("sqlite3", fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=%s&_busy_timeout=5000", path, sync), maxConns)
		return &dbC{w: db, r: db}, err
	case "modernc-split":
		wr, err := dbOpen("sqlite", fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=synchronous(%s)&_pragma=busy_timeout(5000)&_txlock=immediate", path, sync), 1)
		if err != nil {
			return nil, err
		}
		rd, err := dbOpen("sqlite", fmt.Sprintf("file:%s?mode=ro&_pragma=busy_timeout(5000)", path), 4)
		return &dbC{w: wr, r: rd}, err
	case "modernc-multi":
		db, err := dbOpen("sqlite", fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=synchronous(%s)&_pragma=busy_timeout(5000)", path, sync), maxConns)
		return &dbC{w: db, r: db}, err
	}
	return nil, fmt.Errorf("unknown contender %s", name)
}

// dbOpen opens a database/sql pool of up to maxOpen connections (0: unlimited) that keeps its
// connections (idle ones are not closed between calls).
func dbOpen(driver, dsn string, maxOpen int) (*sql.DB, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxOpen)
	idle := maxOpen
	if idle == 0 {
		idle = 128
	}
	db.SetMaxIdleConns(idle)
	return db, db.Ping()
}

// --- singlewriter through the Go binding

type swC struct {
	w    *sw.Writer
	keys sync.Map
}

func (c *swC) insert(ctx context.Context, a int64) error {
	_, err := c.w.Exec(ctx, insert, a, text)
	return err
}

func (c *swC) update(ctx context.Context, id, a int64) error {
	_, err := c.w.Exec(ctx, update, id, a)
	return err
}

func (c *swC) key(id int64) string {
	if k, ok := c.keys.Load(id); ok {
		return k.(string)
	}
	k := fmt.Sprintf("t:%d", id)
	c.keys.Store(id, k)
	return k
}

func (c *swC) read(ctx context.Context, id int64, cached bool) error {
	var r *sw.Rows
	var err error
	if cached {
		r, err = c.w.Read(ctx, c.key(id), point, id)
	} else {
		r, err = c.w.Query(ctx, point, id)
	}
	if err != nil {
		return err
	}
	var a int64
	var b string
	if !r.Next() {
		return errors.New("no row")
	}
	return r.Scan(&a, &b)
}

func (c *swC) enqueuer() func(a int64, done func(error)) error {
	return func(a int64, done func(error)) error {
		return c.w.Enqueue(context.Background(), insert, []any{a, text}, func(_ sw.Result, err error) { done(err) })
	}
}

func (c *swC) count() (int64, error) {
	r, err := c.w.Query(context.Background(), "SELECT count(*) FROM t")
	if err != nil {
		return 0, err
	}
	var n int64
	r.Next()
	return n, r.Scan(&n)
}

func (c *swC) close() error { return c.w.Close() }

// --- database/sql (mattn, modernc)

type dbC struct{ w, r *sql.DB }

func (c *dbC) insert(ctx context.Context, a int64) error {
	_, err := c.w.ExecContext(ctx, insert, a, text)
	return err
}

func (c *dbC) update(ctx context.Context, id, a int64) error {
	_, err := c.w.ExecContext(ctx, update, id, a)
	return err
}

func (c *dbC) read(ctx context.Context, id int64, _ bool) error {
	var a int64
	var b string
	return c.r.QueryRowContext(ctx, point, id).Scan(&a, &b)
}

func (c *dbC) enqueuer() func(int64, func(error)) error { return nil }

func (c *dbC) count() (int64, error) {
	var n int64
	return n, c.w.QueryRow("SELECT count(*) FROM t").Scan(&n)
}

func (c *dbC) close() error {
	err := c.w.Close()
	if c.r != c.w {
		err = errors.Join(err, c.r.Close())
	}
	return err
}

// isBusy reports SQLITE_BUSY / SQLITE_LOCKED from any of the drivers.
func isBusy(err error) bool {
	var me sqlite3.Error
	if errors.As(err, &me) {
		return me.Code == sqlite3.ErrBusy || me.Code == sqlite3.ErrLocked
	}
	var ce *sqlite.Error
	if errors.As(err, &ce) {
		c := ce.Code() & 0xff
		return c == sqlite3lib.SQLITE_BUSY || c == sqlite3lib.SQLITE_LOCKED
	}
	return errors.Is(err, sw.ErrBusy)
}

// --- databases

var templates = struct {
	once         sync.Once
	empty, full  string
	err          error
	dir          string
	mattnVersion string
}{}

func template(b *testing.B, withRows bool) string {
	templates.once.Do(func() {
		templates.dir, templates.err = os.MkdirTemp("", "sw-go-peers-")
		if templates.err != nil {
			return
		}
		mk := func(name string, n int) string {
			p := filepath.Join(templates.dir, name)
			db, err := sql.Open("sqlite3", "file:"+p+"?_journal_mode=WAL")
			if err == nil {
				_, err = db.Exec(schema)
			}
			if err == nil {
				tx, _ := db.Begin()
				for i := 0; i < n && err == nil; i++ {
					_, err = tx.Exec(insert, i, text)
				}
				if err == nil {
					err = tx.Commit()
				}
			}
			if err == nil {
				_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			}
			if err == nil {
				err = db.Close()
			}
			if err != nil && templates.err == nil {
				templates.err = err
			}
			return p
		}
		templates.empty = mk("empty.db", 0)
		templates.full = mk("rows.db", rows)
	})
	if templates.err != nil {
		b.Fatal(templates.err)
	}
	if withRows {
		return templates.full
	}
	return templates.empty
}

// freshDB copies a template to a new file in b's temp dir.
func freshDB(b *testing.B, withRows bool) string {
	src, err := os.Open(template(b, withRows))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(b.TempDir(), "bench.db")
	dst, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// --- measurement

// tally is what one goroutine saw.
type tally struct {
	reads, writes []time.Duration
	busy          int64
	inserts       int64
	err           error
	// W2 with Enqueue: this producer's writes in flight, and their completions.
	inflight chan struct{}
	pending  sync.WaitGroup
}

func (t *tally) done(isRead, isInsert bool, d time.Duration, err error) {
	switch {
	case err == nil:
		if isRead {
			t.reads = append(t.reads, d)
		} else {
			t.writes = append(t.writes, d)
		}
		if isInsert {
			t.inserts++
		}
	case isBusy(err):
		t.busy++
	default:
		if t.err == nil {
			t.err = err
		}
	}
}

func pct(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(float64(len(ds))*q))]) / 1e3
}

// report merges the tallies, reports the metrics and checks the row count.
func report(b *testing.B, c contender, before int64, elapsed time.Duration, ts []*tally, unit string) {
	var reads, writes []time.Duration
	var busy, inserts int64
	for _, t := range ts {
		if t.err != nil {
			b.Fatalf("a caller saw an error: %v", t.err)
		}
		reads = append(reads, t.reads...)
		writes = append(writes, t.writes...)
		busy += t.busy
		inserts += t.inserts
	}
	n := len(reads) + len(writes)
	b.ReportMetric(float64(n)/elapsed.Seconds(), unit)
	all := append(append([]time.Duration{}, reads...), writes...)
	b.ReportMetric(pct(all, 0.5), "p50-µs")
	b.ReportMetric(pct(all, 0.99), "p99-µs")
	if len(reads) > 0 && len(writes) > 0 {
		b.ReportMetric(pct(reads, 0.99), "read-p99-µs")
		b.ReportMetric(pct(writes, 0.99), "write-p99-µs")
	}
	b.ReportMetric(float64(busy), "busy")
	after, err := c.count()
	if err != nil {
		b.Fatal(err)
	}
	if after != before+inserts {
		b.Fatalf("row check: %d rows, expected %d + %d acknowledged inserts", after, before, inserts)
	}
}

// zipf draws Zipf(0.99) keys over 1..rows (math/rand's Zipf needs s > 1, so by inverse CDF).
type zipf struct{ cdf []float64 }

var zipfOnce = sync.OnceValue(func() *zipf {
	z := &zipf{cdf: make([]float64, rows)}
	acc := 0.0
	for k := 1; k <= rows; k++ {
		acc += 1 / math.Pow(float64(k), 0.99)
		z.cdf[k-1] = acc
	}
	for i := range z.cdf {
		z.cdf[i] /= acc
	}
	return z
})

func (z *zipf) key(r *rand.Rand) int64 {
	u := r.Float64()
	i, _ := slices.BinarySearch(z.cdf, u)
	return int64(min(i, rows-1)) + 1
}

// run does b.N operations from `workers` goroutines and returns the time until the last one
// (and, when wait is given, until wait returns: the last acknowledgement).
func run(b *testing.B, workers int, op func(t *tally, r *rand.Rand, i int64), wait func([]*tally)) time.Duration {
	var next atomic.Int64
	ts := make([]*tally, workers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		ts[w] = &tally{}
		wg.Add(1)
		go func(t *tally, seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 7))
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				op(t, r, i)
			}
		}(ts[w], uint64(w)+1)
	}
	wg.Wait()
	if wait != nil {
		wait(ts)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runTallies = ts
	return elapsed
}

var runTallies []*tally

func syncs() []string {
	if quick {
		return []string{"NORMAL"}
	}
	return []string{"NORMAL", "FULL"}
}

func BenchmarkW1(b *testing.B) {
	for _, s := range syncs() {
		ps := []int{1, 4, 16, 64}
		if quick {
			ps = []int{1, 16}
		} else if s == "FULL" {
			ps = []int{1, 16}
		}
		for _, p := range ps {
			for _, name := range names {
				b.Run(fmt.Sprintf("sync=%s/producers=%d/contender=%s", s, p, name), func(b *testing.B) {
					c, err := open(name, freshDB(b, false), s, 0)
					if err != nil {
						b.Fatal(err)
					}
					defer c.close()
					before, _ := c.count()
					ctx := context.Background()
					el := run(b, p, func(t *tally, _ *rand.Rand, i int64) {
						t0 := time.Now()
						err := c.insert(ctx, i)
						t.done(false, true, time.Since(t0), err)
					}, nil)
					report(b, c, before, el, runTallies, "writes/s")
				})
			}
		}
	}
}

func BenchmarkW2(b *testing.B) {
	ps := []int{16}
	if quick {
		ps = []int{4}
	}
	for _, p := range ps {
		for _, name := range names {
			b.Run(fmt.Sprintf("sync=NORMAL/producers=%d/contender=%s", p, name), func(b *testing.B) {
				c, err := open(name, freshDB(b, false), "NORMAL", 0)
				if err != nil {
					b.Fatal(err)
				}
				defer c.close()
				before, _ := c.count()
				ctx := context.Background()
				enq := c.enqueuer()
				if enq == nil {
					// database/sql has no pipelined API: 256 goroutines per producer, each
					// blocking in Exec, keep the same number of writes in flight.
					el := run(b, p*window, func(t *tally, _ *rand.Rand, i int64) {
						t0 := time.Now()
						err := c.insert(ctx, i)
						t.done(false, true, time.Since(t0), err)
					}, nil)
					report(b, c, before, el, runTallies, "writes/s")
					return
				}
				// The binding's Enqueue: each producer keeps up to 256 writes in flight.
				var mu sync.Mutex
				el := run(b, p, func(t *tally, _ *rand.Rand, i int64) {
					if t.inflight == nil {
						t.inflight = make(chan struct{}, window)
					}
					t.inflight <- struct{}{}
					t0 := time.Now()
					t.pending.Add(1)
					err := enq(i, func(err error) {
						d := time.Since(t0)
						mu.Lock()
						t.done(false, true, d, err)
						mu.Unlock()
						<-t.inflight
						t.pending.Done()
					})
					if err != nil {
						mu.Lock()
						t.done(false, false, 0, err)
						mu.Unlock()
						<-t.inflight
						t.pending.Done()
					}
				}, func(ts []*tally) {
					// Time runs until the last acknowledgement.
					for _, t := range ts {
						t.pending.Wait()
					}
				})
				report(b, c, before, el, runTallies, "writes/s")
			})
		}
	}
}

func BenchmarkW3(b *testing.B) {
	for _, mode := range []string{"uncached", "hit"} {
		for _, threads := range []int{1, 2} {
			for _, name := range names {
				if mode == "hit" && name != "singlewriter" {
					continue
				}
				b.Run(fmt.Sprintf("mode=%s/threads=%d/contender=%s", mode, threads, name), func(b *testing.B) {
					c, err := open(name, freshDB(b, true), "NORMAL", 0)
					if err != nil {
						b.Fatal(err)
					}
					defer c.close()
					before, _ := c.count()
					ctx := context.Background()
					keys := int64(rows)
					if mode == "hit" {
						keys = hotKeys
						for id := int64(1); id <= keys; id++ {
							_ = c.read(ctx, id, true)
						}
					}
					el := run(b, threads, func(t *tally, r *rand.Rand, _ int64) {
						id := r.Int64N(keys) + 1
						t0 := time.Now()
						err := c.read(ctx, id, mode == "hit")
						t.done(true, false, time.Since(t0), err)
					}, nil)
					report(b, c, before, el, runTallies, "reads/s")
				})
			}
		}
	}
}

func BenchmarkW4(b *testing.B) {
	for _, s := range syncs() {
		for _, name := range append([]string{"singlewriter-cached"}, names...) {
			b.Run(fmt.Sprintf("sync=%s/contender=%s", s, name), func(b *testing.B) {
				cached := strings.HasSuffix(name, "-cached")
				c, err := open(strings.TrimSuffix(name, "-cached"), freshDB(b, true), s, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer c.close()
				before, _ := c.count()
				ctx := context.Background()
				z := zipfOnce()
				el := run(b, 4, func(t *tally, r *rand.Rand, i int64) {
					t0 := time.Now()
					switch r.IntN(20) {
					case 0:
						err := c.insert(ctx, i)
						t.done(false, true, time.Since(t0), err)
					case 1:
						err := c.update(ctx, z.key(r), i)
						t.done(false, false, time.Since(t0), err)
					default:
						err := c.read(ctx, z.key(r), cached)
						t.done(true, false, time.Since(t0), err)
					}
				}, nil)
				report(b, c, before, el, runTallies, "ops/s")
			})
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if templates.dir != "" {
		os.RemoveAll(templates.dir)
	}
	os.Exit(code)
}
