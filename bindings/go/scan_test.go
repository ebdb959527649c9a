package singlewriter

import (
	"database/sql"
	"errors"
	"testing"
	"time"
)

func TestQueryRowScansTypedValuesAndReportsNoRows(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT, email TEXT, score REAL, born TEXT, flags INTEGER)")
	born := time.Date(1990, 4, 1, 12, 30, 0, 0, time.UTC)
	mustExec(t, w, "INSERT INTO u VALUES (1, 'ada', NULL, 9.5, ?, 255)", born)
	var (
		name  string
		email sql.NullString
		score float32
		when  time.Time
		flags uint8
		id    int16
	)
	if err := w.QueryRow(ctx, "SELECT id, name, email, score, born, flags FROM u WHERE id = ?", 1).
		Scan(&id, &name, &email, &score, &when, &flags); err != nil {
		t.Fatal(err)
	}
	if id != 1 || name != "ada" || email.Valid || score != 9.5 || !when.Equal(born) || flags != 255 {
		t.Fatalf("scanned %v %q %+v %v %v %v", id, name, email, score, when, flags)
	}
	err := w.QueryRow(ctx, "SELECT name FROM u WHERE id = ?", 2).Scan(&name)
	if !errors.Is(err, ErrNoRows) || !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("missing row: %v", err)
	}
	if err := w.QueryRow(ctx, "SELECT nope FROM u").Scan(&name); !errors.Is(err, ErrSQL) {
		t.Fatalf("bad query: %v", err)
	}
	var cached string
	if err := w.ReadRow(ctx, "u:1", "SELECT name FROM u WHERE id = 1").Scan(&cached); err != nil || cached != "ada" {
		t.Fatalf("ReadRow: %q %v", cached, err)
	}
	err = w.Tx(ctx, func(tx *Tx) error {
		mustExecTx(t, tx, "UPDATE u SET name = 'bo' WHERE id = 1")
		var inTx string
		if err := tx.QueryRow("SELECT name FROM u WHERE id = 1").Scan(&inTx); err != nil || inTx != "bo" {
			t.Errorf("Tx.QueryRow: %q %v", inTx, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustExecTx(t *testing.T, tx *Tx, sql string, args ...any) {
	t.Helper()
	if _, err := tx.Exec(sql, args...); err != nil {
		t.Fatal(err)
	}
}

type celsius float64

type tag string

func (g *tag) Scan(src any) error {
	if src == nil {
		*g = "<none>"
		return nil
	}
	s, ok := src.(string)
	if !ok {
		return errors.New("tag: not text")
	}
	*g = tag("#" + s)
	return nil
}

func TestScanHandlesNullPointersScannersAndRanges(t *testing.T) {
	w, _ := openTemp(t, "")
	mustExec(t, w, "CREATE TABLE v (a TEXT, b INTEGER, c REAL, d TEXT)")
	mustExec(t, w, "INSERT INTO v VALUES (NULL, NULL, NULL, NULL)")
	mustExec(t, w, "INSERT INTO v VALUES ('x', 300, 21.5, 'go')")
	rows, err := w.Query(ctx, "SELECT a, b, c, d FROM v ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	var (
		a  *string
		b  sql.Null[int64]
		c  *celsius
		d  tag
		s  string
		u8 uint8
	)
	rows.Next()
	if err := rows.Scan(&a, &b, &c, &d); err != nil {
		t.Fatal(err)
	}
	if a != nil || b.Valid || c != nil || d != "<none>" {
		t.Fatalf("NULL row: %v %+v %v %q", a, b, c, d)
	}
	if err := rows.Scan(&s, &b, &c, &d); err == nil {
		t.Fatal("NULL into *string: no error")
	}
	rows.Next()
	if err := rows.Scan(&a, &b, &c, &d); err != nil {
		t.Fatal(err)
	}
	if *a != "x" || b.V != 300 || *c != 21.5 || d != "#go" {
		t.Fatalf("values: %q %+v %v %q", *a, b, *c, d)
	}
	var any1, any2, any3, any4 any
	if err := rows.Scan(&any1, &u8, &any3, &any4); err == nil {
		t.Fatal("300 into *uint8: no error")
	}
	_ = any2
}
