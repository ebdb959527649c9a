// Command exitchild is a child process for test-module.sh: it opens a writer,
// enqueues writes and ends the process the way its mode says, so the test can
// count what was committed.
//
//	exitchild DB N close|flushall|return
//
//	close     defer w.Close() in main (drains; all N commit)
//	flushall  singlewriter.FlushAll, then os.Exit(0) (all N commit)
//	return    return from main with the writer open: Go skips C exit handlers, so
//	          writes still queued are lost (nothing to check but a clean exit)
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	singlewriter "github.com/singlewriter/singlewriter/bindings/go"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: exitchild DB N close|flushall|return")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := run(os.Args[1], n, os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(path string, n int, mode string) error {
	ctx := context.Background()
	w, err := singlewriter.Open("Data Source=" + path + ";Max Batch=64")
	if err != nil {
		return err
	}
	if mode == "close" {
		defer w.Close()
	}
	if _, err := w.Exec(ctx, "CREATE TABLE IF NOT EXISTS t(i INTEGER)"); err != nil {
		return err
	}
	for i := range n {
		if err := w.Enqueue(ctx, "INSERT INTO t(i) VALUES (?)", []any{i}, nil); err != nil {
			return err
		}
	}
	fmt.Printf("enqueued %d\n", n)
	if mode == "flushall" {
		if err := singlewriter.FlushAll(30 * time.Second); err != nil {
			return err
		}
		os.Exit(0)
	}
	return nil
}
