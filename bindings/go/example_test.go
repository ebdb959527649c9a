package singlewriter_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	singlewriter "github.com/singlewriter/singlewriter/bindings/go"
)

// The quick start: a table, an insert with named parameters, a transaction, a
// batch, a cached read and a flush.
func Example() {
	dir, err := os.MkdirTemp("", "singlewriter-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	w, err := singlewriter.Open("Data Source=" + filepath.Join(dir, "app.db") + ";Cache Size=100")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	if _, err := w.Exec(ctx, "CREATE TABLE Users (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL UNIQUE)"); err != nil {
		log.Fatal(err)
	}

	// A write returns once it has committed.
	r, err := w.Exec(ctx, "INSERT INTO Users (Name) VALUES (@Name)", singlewriter.Named("Name", "Alice"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("inserted Alice: id %d, %d row\n", r.LastInsertID, r.RowsAffected)

	// A transaction on the writer: its reads see its own writes.
	count, err := singlewriter.TxValue(ctx, w, func(tx *singlewriter.Tx) (int64, error) {
		if _, err := tx.Exec("INSERT INTO Users (Name) VALUES ('Bob')"); err != nil {
			return 0, err
		}
		rows, err := tx.Query("SELECT COUNT(*) FROM Users")
		if err != nil {
			return 0, err
		}
		return rows.Value(0, 0).(int64), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("users after the transaction:", count)

	// A batch is all-or-nothing by default.
	r, err = w.Batch(ctx, []singlewriter.Statement{
		singlewriter.Stmt("INSERT INTO Users (Name) VALUES (?)", "Charlie"),
		singlewriter.Stmt("INSERT INTO Users (Name) VALUES (?)", "Dana"),
	}, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("batch inserted:", r.RowsAffected)

	// A cached read: the second call is served from the cache.
	for i := 0; i < 2; i++ {
		rows, err := w.Read(ctx, "users:count", "SELECT COUNT(*) FROM Users")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("users:count =", rows.Value(0, 0))
	}
	cs, _ := w.CacheStats()
	fmt.Printf("cache: %d miss, %d hit\n", cs.Misses, cs.Hits)

	// A write that names the keys it makes stale.
	if _, err := w.ExecAndInvalidate(ctx, []string{"users:count"}, "INSERT INTO Users (Name) VALUES ('Eve')"); err != nil {
		log.Fatal(err)
	}
	rows, _ := w.Read(ctx, "users:count", "SELECT COUNT(*) FROM Users")
	fmt.Println("users:count after Eve =", rows.Value(0, 0))

	// Fire-and-forget writes, then wait for all of them.
	for _, name := range []string{"Frank", "Grace"} {
		if err := w.Enqueue(ctx, "INSERT INTO Users (Name) VALUES (?)", []any{name}, nil); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	rows, _ = w.Query(ctx, "SELECT Name FROM Users ORDER BY Id")
	var names []string
	for _, row := range rows.All() {
		names = append(names, row[0].(string))
	}
	fmt.Println(strings.Join(names, " "))

	flushes, _ := w.Signals("write.flush.*", 0)
	for _, s := range flushes {
		fmt.Println("signal:", s)
	}

	// Output:
	// inserted Alice: id 1, 1 row
	// users after the transaction: 2
	// batch inserted: 2
	// users:count = 4
	// users:count = 4
	// cache: 1 miss, 1 hit
	// users:count after Eve = 5
	// Alice Bob Charlie Dana Eve Frank Grace
	// signal: write.flush.start
	// signal: write.flush.done
}
