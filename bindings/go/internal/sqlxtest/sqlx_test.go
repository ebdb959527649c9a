// Package sqlxtest uses the database/sql driver through sqlx, as an
// application would: struct scanning with db tags, named queries, IN
// expansion, Get/Select, transactions. A module of its own, so that the
// binding itself depends on nothing but the standard library.
package sqlxtest

import (
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	singlewriter "github.com/singlewriter/singlewriter/bindings/go"
)

type Note struct {
	ID      int64          `db:"id"`
	Title   string         `db:"title"`
	Body    sql.NullString `db:"body"`
	Stars   int            `db:"stars"`
	OwnerID sql.NullInt64  `db:"owner_id"`
}

const schema = `
CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE notes (
	id INTEGER PRIMARY KEY,
	title TEXT NOT NULL UNIQUE,
	body TEXT,
	stars INTEGER NOT NULL DEFAULT 0,
	owner_id INTEGER REFERENCES owners(id)
);`

func open(t *testing.T) *sqlx.DB {
	t.Helper()
	sqlx.BindDriver(singlewriter.DriverName, sqlx.QUESTION)
	db, err := sqlx.Connect(singlewriter.DriverName, "Data Source="+filepath.Join(t.TempDir(), "sqlx.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	db.MustExec(schema)
	return db
}

func TestSqlxStructsNamedQueriesAndIn(t *testing.T) {
	db := open(t)
	db.MustExec("INSERT INTO owners (id, name) VALUES (?, ?)", 1, "ada")
	notes := []Note{
		{Title: "first", Body: sql.NullString{String: "hello", Valid: true}, Stars: 3, OwnerID: sql.NullInt64{Int64: 1, Valid: true}},
		{Title: "second", Stars: 1},
		{Title: "third", Body: sql.NullString{String: "x", Valid: true}},
	}
	for _, n := range notes {
		if _, err := db.NamedExec(`INSERT INTO notes (title, body, stars, owner_id) VALUES (:title, :body, :stars, :owner_id)`, n); err != nil {
			t.Fatal(err)
		}
	}
	var got Note
	if err := db.Get(&got, "SELECT * FROM notes WHERE title = ?", "first"); err != nil {
		t.Fatal(err)
	}
	if got.ID != 1 || got.Body.String != "hello" || !got.OwnerID.Valid || got.Stars != 3 {
		t.Fatalf("Get: %+v", got)
	}
	var all []Note
	if err := db.Select(&all, "SELECT * FROM notes ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[1].Body.Valid || all[1].OwnerID.Valid || all[2].Title != "third" {
		t.Fatalf("Select: %+v", all)
	}
	q, args, err := sqlx.In("SELECT title FROM notes WHERE id IN (?) ORDER BY id", []int64{1, 3})
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	if err := db.Select(&titles, db.Rebind(q), args...); err != nil {
		t.Fatal(err)
	}
	if len(titles) != 2 || titles[0] != "first" || titles[1] != "third" {
		t.Fatalf("In: %v", titles)
	}
	rows, err := db.NamedQuery("SELECT id, title FROM notes WHERE stars >= :min ORDER BY id", map[string]any{"min": 1})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			t.Fatal(err)
		}
		n++
	}
	rows.Close()
	if n != 2 {
		t.Fatalf("NamedQuery: %d rows", n)
	}
	var missing Note
	if err := db.Get(&missing, "SELECT * FROM notes WHERE id = ?", 42); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("Get of a missing row: %v", err)
	}
	if _, err := db.Exec("INSERT INTO notes (title) VALUES (?)", "first"); !errors.Is(err, singlewriter.ErrConstraint) {
		t.Fatalf("duplicate title: %v", err)
	}
}

func TestSqlxTransactionsCommitAndRollback(t *testing.T) {
	db := open(t)
	tx := db.MustBegin()
	tx.MustExec("INSERT INTO owners (name) VALUES (?)", "ada")
	var id int64
	if err := tx.Get(&id, "SELECT id FROM owners WHERE name = ?", "ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.NamedExec("INSERT INTO notes (title, owner_id) VALUES (:title, :owner)", map[string]any{"title": "t", "owner": id}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx = db.MustBegin()
	tx.MustExec("DELETE FROM notes")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Get(&n, "SELECT count(*) FROM notes WHERE owner_id = ?", id); err != nil || n != 1 {
		t.Fatalf("after commit and rollback: %d notes, %v", n, err)
	}
}

// Many goroutines writing and reading through sqlx at once: every
// acknowledged write is there.
func TestSqlxConcurrentWritersAllAcknowledgedRowsPresent(t *testing.T) {
	db := open(t)
	db.SetMaxOpenConns(32)
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				n := Note{Title: "g" + string(rune('A'+g)) + "-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Stars: i}
				if _, err := db.NamedExec("INSERT INTO notes (title, stars) VALUES (:title, :stars)", n); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
				var got Note
				if err := db.Get(&got, "SELECT * FROM notes WHERE title = ?", n.Title); err != nil {
					t.Errorf("read own write: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var n int
	if err := db.Get(&n, "SELECT count(*) FROM notes"); err != nil || n != acked {
		t.Fatalf("%d rows, %d acknowledged (%v)", n, acked, err)
	}
}
