package singlewriter

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/singlewriter/singlewriter/bindings/go/internal/cbaseline"
)

// Per-call overhead of the binding, against a WAL file in a temp dir
// (Synchronous=NORMAL, the default). The *C benchmarks run the same calls from
// a C loop (internal/cbaseline) on the same database, so the difference is
// what the Go binding adds. Run with:
//
//	go test -run '^$' -bench . -benchmem

func benchWriter(b *testing.B) *Writer {
	w, _ := benchWriterPath(b)
	return w
}

func benchWriterPath(b *testing.B) (*Writer, string) {
	w, path := openTemp(b, "")
	mustExec(b, w, "CREATE TABLE T (id INTEGER PRIMARY KEY, g INTEGER, v TEXT)")
	return w, path
}

// rawHandle opens a second, plain C handle on the same database (same writer).
func rawHandle(b *testing.B, path string) *cbaseline.Writer {
	c, err := cbaseline.Open("Data Source=" + path + ";Sample Rate=1")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// BenchmarkExecC: BenchmarkExec's INSERT, from a C loop.
func BenchmarkExecC(b *testing.B) {
	_, path := benchWriterPath(b)
	c := rawHandle(b, path)
	b.ResetTimer()
	if failed := c.ExecLoop(b.N); failed != 0 {
		b.Fatalf("%d failures", failed)
	}
}

// BenchmarkReadCachedC: BenchmarkReadCached's cache hit (read, one cell, free), from a C loop.
func BenchmarkReadCachedC(b *testing.B) {
	w, path := benchWriterPath(b)
	mustExec(b, w, "INSERT INTO T (g, v) VALUES (1, 'x')")
	if _, err := w.Read(ctx, "t:count", "SELECT COUNT(*) FROM T"); err != nil {
		b.Fatal(err)
	}
	c := rawHandle(b, path)
	b.ResetTimer()
	if failed := c.ReadLoop("t:count", "SELECT COUNT(*) FROM T", b.N); failed != 0 {
		b.Fatalf("%d failures", failed)
	}
}

// BenchmarkExec: one goroutine, one blocking INSERT per op.
func BenchmarkExec(b *testing.B) {
	w := benchWriter(b)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := w.Exec(ctx, "INSERT INTO T (g, v) VALUES (?, ?)", i, "value"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExec16: 16 goroutines, each doing blocking INSERTs; group commit at work.
func BenchmarkExec16(b *testing.B) {
	w := benchWriter(b)
	b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var g atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := g.Add(1)
		for pb.Next() {
			if _, err := w.Exec(ctx, "INSERT INTO T (g, v) VALUES (?, ?)", id, "value"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st, _ := w.Stats()
	if st.Transactions > 0 {
		b.ReportMetric(float64(st.Committed)/float64(st.Transactions), "writes/commit")
	}
}

// BenchmarkEnqueue16: 16 goroutines enqueueing with a callback, then one Flush.
func BenchmarkEnqueue16(b *testing.B) {
	w := benchWriter(b)
	b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var acked atomic.Int64
	done := func(_ Result, err error) {
		if err == nil {
			acked.Add(1)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		args := []any{1, "value"}
		for pb.Next() {
			if err := w.Enqueue(ctx, "INSERT INTO T (g, v) VALUES (?, ?)", args, done); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReadCached: a cache hit of a one-row result, copied into Go.
func BenchmarkReadCached(b *testing.B) {
	w := benchWriter(b)
	mustExec(b, w, "INSERT INTO T (g, v) VALUES (1, 'x')")
	if _, err := w.Read(ctx, "t:count", "SELECT COUNT(*) FROM T"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.Read(ctx, "t:count", "SELECT COUNT(*) FROM T"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadCachedParallel: cache hits from every P.
func BenchmarkReadCachedParallel(b *testing.B) {
	w := benchWriter(b)
	if _, err := w.Read(ctx, "t:count", "SELECT COUNT(*) FROM T"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.Read(ctx, "t:count", "SELECT COUNT(*) FROM T"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkQuery: an uncached point query on a read connection.
func BenchmarkQuery(b *testing.B) {
	w := benchWriter(b)
	mustExec(b, w, "INSERT INTO T (id, g, v) VALUES (1, 1, 'x')")
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.Query(ctx, "SELECT g, v FROM T WHERE id = ?", 1); err != nil {
			b.Fatal(err)
		}
	}
}
