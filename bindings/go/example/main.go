// Command example mirrors the singlewriter quick start from Go: create a
// table, insert with named parameters, run a transaction and a batch, read
// through the cache, flush, and print what happened along the way.
//
//	cd bindings/go && go run ./example [path/to/db]
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	singlewriter "github.com/singlewriter/singlewriter/bindings/go"
)

func main() {
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), "singlewriter-go-example.db")
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
	fmt.Printf("libsinglewriter %s (ABI %d), database %s\n", singlewriter.LibraryVersion(), singlewriter.LibraryABIVersion(), path)

	w, err := singlewriter.Open("Data Source=" + path + ";Cache Size=100;Sample Rate=1")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	must(w.Exec(ctx, "CREATE TABLE Users (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL UNIQUE, Age INTEGER)"))
	fmt.Println("created table Users")

	r := must(w.Exec(ctx, "INSERT INTO Users (Name, Age) VALUES (@Name, @Age)",
		singlewriter.Named("Name", "Alice"), singlewriter.Named("Age", 34)))
	fmt.Printf("insert with @Name/@Age: rowid %d, %d row affected\n", r.LastInsertID, r.RowsAffected)

	n, err := singlewriter.TxValue(ctx, w, func(tx *singlewriter.Tx) (int64, error) {
		if _, err := tx.Exec("INSERT INTO Users (Name, Age) VALUES (?, ?)", "Bob", 27); err != nil {
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
	fmt.Printf("transaction committed; it counted %d users inside\n", n)

	r = must(w.Batch(ctx, []singlewriter.Statement{
		singlewriter.Stmt("INSERT INTO Users (Name) VALUES ('Charlie')"),
		singlewriter.Stmt("INSERT INTO Users (Name) VALUES ('Dana')"),
	}, true))
	fmt.Printf("batch committed %d rows\n", r.RowsAffected)

	_, err = w.Batch(ctx, []singlewriter.Statement{
		singlewriter.Stmt("INSERT INTO Users (Name) VALUES ('Zed')"),
		singlewriter.Stmt("INSERT INTO Users (Name) VALUES ('Alice')"),
	}, true)
	var se *singlewriter.Error
	if errors.Is(err, singlewriter.ErrConstraint) && errors.As(err, &se) {
		fmt.Printf("failing batch rolled back: %s (sqlite code %d)\n", se.Message, se.SQLiteCode)
	}

	for i := 0; i < 3; i++ {
		rows := must(w.Read(ctx, "users:count", "SELECT COUNT(*) FROM Users"))
		fmt.Printf("cached read users:count = %v\n", rows.Value(0, 0))
	}
	cs := must(w.CacheStats())
	fmt.Printf("cache: %d miss(es), %d hit(s)\n", cs.Misses, cs.Hits)

	must(w.ExecAndInvalidate(ctx, []string{"users:count"}, "INSERT INTO Users (Name) VALUES ('Eve')"))
	rows := must(w.Read(ctx, "users:count", "SELECT COUNT(*) FROM Users"))
	fmt.Printf("after insert-and-invalidate users:count = %v\n", rows.Value(0, 0))

	for _, name := range []string{"Frank", "Grace", "Heidi"} {
		err := w.Enqueue(ctx, "INSERT INTO Users (Name) VALUES (?)", []any{name}, func(r singlewriter.Result, err error) {
			if err != nil {
				fmt.Println("enqueued write failed:", err)
			}
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("flushed 3 enqueued writes")

	rows = must(w.Query(ctx, "SELECT Id, Name, Age FROM Users ORDER BY Id"))
	for rows.Next() {
		var id int64
		var name string
		var age any
		if err := rows.Scan(&id, &name, &age); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("  %d %-8s %v\n", id, name, age)
	}

	st := must(w.Stats())
	fmt.Printf("stats: %d committed, %d failed, %d transactions\n", st.Committed, st.Failed, st.Transactions)
	sigs := must(w.Signals("", 0))
	fmt.Printf("%d signals, e.g.:\n", len(sigs))
	for _, s := range sigs[max(0, len(sigs)-8):] {
		fmt.Printf("  #%d %s\n", s.Seq, s)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}
