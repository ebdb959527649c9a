package singlewriter

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
)

// Many goroutines writing at once wait for their group as parked goroutines:
// the process gains a few OS threads, not one per waiting writer.
func TestManyConcurrentExecsDoNotPinAnOSThreadEach(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (g INTEGER NOT NULL, i INTEGER NOT NULL, PRIMARY KEY (g, i))")
	threads := pprof.Lookup("threadcreate")
	before := threads.Count()
	const goroutines, perG = 64, 100
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range perG {
				if _, err := w.Exec(ctx, "INSERT INTO T (g, i) VALUES (?, ?)", g, i); err != nil {
					t.Errorf("g%d i%d: %v", g, i, err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	grown := threads.Count() - before
	t.Logf("OS threads created while %d goroutines wrote: %d", goroutines, grown)
	if grown >= 16 {
		t.Errorf("%d OS threads created for %d concurrent writers; waiting writers should park goroutines, not threads", grown, goroutines)
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != goroutines*perG {
		t.Fatalf("count = %d, want %d", n, goroutines*perG)
	}
}

// forceParked makes the handle's next Exec calls take the parked path (as if
// many writes were in flight) until the returned function is called.
func forceParked(w *Writer) func() {
	w.h.writers.Add(1)
	w.h.peak.Store(1 << 30)
	return func() {
		w.h.writers.Add(-1)
		w.h.peak.Store(0)
	}
}

// The parked path reports each write's own outcome: a failing write fails
// alone, with its status and message, and its neighbours commit.
func TestParkedWriteFailsAloneWithItsError(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (k TEXT PRIMARY KEY)")
	mustExec(t, w, "INSERT INTO T VALUES ('taken')")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprintf("k%d", i)
			if i%4 == 0 {
				k = "taken"
			}
			_, errs[i] = w.Exec(ctx, "INSERT INTO T VALUES (?)", k)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i%4 == 0 && !errors.Is(err, ErrConstraint):
			t.Errorf("write %d: %v, want a constraint error", i, err)
		case i%4 == 0:
			var se *Error
			if !errors.As(err, &se) || se.Message == "" {
				t.Errorf("write %d: constraint error without a message: %#v", i, err)
			}
		case err != nil:
			t.Errorf("write %d: %v", i, err)
		}
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 1+30 {
		t.Fatalf("count = %d, want 31", n)
	}
}

// Force the parked path for one write (no other write in flight) and check the
// result it carries back.
func TestParkedExecReturnsRowsAffectedAndLastInsertID(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (id INTEGER PRIMARY KEY, v INTEGER)")
	defer forceParked(w)()
	r, err := w.Exec(ctx, "INSERT INTO T (id, v) VALUES (41, 1), (42, 2)")
	if err != nil {
		t.Fatal(err)
	}
	if r.RowsAffected != 2 || r.LastInsertID != 42 {
		t.Fatalf("result %+v, want 2 rows, last id 42", r)
	}
	if _, err := w.Exec(ctx, "INSERT INTO nosuch VALUES (1)"); !errors.Is(err, ErrSQL) {
		t.Fatalf("parked write to a missing table: %v, want ErrSQL", err)
	}
}

// From inside a Tx function, an Exec on the parked path would wait for the
// lane its own thread holds: it is refused like the blocking call.
func TestParkedExecInsideTxIsMisuse(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (v INTEGER)")
	defer forceParked(w)()
	err := w.Tx(ctx, func(tx *Tx) error {
		_, err := w.Exec(ctx, "INSERT INTO T VALUES (1)")
		if !errors.Is(err, ErrMisuse) {
			return fmt.Errorf("Exec inside Tx: %v, want ErrMisuse", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
}

// A Tx waiting behind another Tx of the same handle has submitted nothing:
// when its ctx ends it returns ctx.Err() and its function never runs.
func TestTxWaitingBehindAnotherGivesUpWithItsContext(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE T (v INTEGER)")
	inside, release := make(chan struct{}), make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- w.Tx(ctx, func(tx *Tx) error {
			close(inside)
			<-release
			_, err := tx.Exec("INSERT INTO T VALUES (1)")
			return err
		})
	}()
	<-inside
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	ran := false
	err := w.Tx(cctx, func(tx *Tx) error {
		ran = true
		_, err := tx.Exec("INSERT INTO T VALUES (2)")
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("waiting Tx: err %v, ran %v; want DeadlineExceeded and not run", err, ran)
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if n := scalar(t, w, "SELECT COUNT(*) FROM T"); n != 1 {
		t.Fatalf("count = %d, want 1 (only the first Tx)", n)
	}
}

// Closing while many parked writes are in flight: every write either commits
// and is acknowledged, or fails with ErrClosed; none is lost or left waiting.
func TestCloseWithParkedWritesInFlightAcknowledgesEach(t *testing.T) {
	path := t.TempDir() + "/close.db"
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, w, "CREATE TABLE T (v INTEGER)")
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				_, err := w.Exec(ctx, "INSERT INTO T VALUES (?)", g*1000+i)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("write: %v", err)
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	w2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if n := scalar(t, w2, "SELECT COUNT(*) FROM T"); n != int64(acked) {
		t.Fatalf("rows %d, acknowledged %d", n, acked)
	}
}

// A few concurrent writers block in C (lower latency); once more than four have
// been in flight at once, only a lone writer does and the rest park.
func TestFewWritersBlockManyPark(t *testing.T) {
	w, _ := openTemp(t, "")
	h := w.h
	var decisions []bool
	for range 4 { // four at once: all may block
		decisions = append(decisions, h.mayBlock())
	}
	if fmt.Sprint(decisions) != "[true true true true]" {
		t.Fatalf("four concurrent writers: %v", decisions)
	}
	if h.mayBlock() { // the fifth raises the peak above four: park
		t.Fatal("a fifth concurrent writer blocks")
	}
	h.writers.Add(-5)
	if !h.mayBlock() { // alone again: the lone writer blocks
		t.Fatal("a lone writer parks")
	}
	if h.mayBlock() { // but a second one parks while the recent peak is high
		t.Fatal("a second writer blocks after a peak of five")
	}
	h.writers.Add(-2)
	for range peakWindow { // the peak window starts over
		h.mayBlock()
		h.writers.Add(-1)
	}
	a, b := h.mayBlock(), h.mayBlock()
	h.writers.Add(-2)
	if !a || !b {
		t.Fatalf("after a quiet window two writers: %v %v, want both to block", a, b)
	}
}
