package main

import (
	"context"
	"database/sql"
	"errors"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

func init() { backends["sqlite3"] = openSQLite3 }

// seedFile creates and seeds the database through go-sqlite3 (the file is then shared by
// whichever backend serves it).
func seedFile(path string, n int) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=10000")
	if err != nil {
		return err
	}
	defer db.Close()
	return seed(db, n)
}

// sqlite3Store is the recommended go-sqlite3 setup: every write through one connection whose
// transactions begin IMMEDIATE, reads through a pool of read-only connections.
type sqlite3Store struct {
	w, r *sql.DB
}

func openSQLite3(path string) (store, error) {
	const common = "&_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_foreign_keys=1"
	w, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate"+common)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite3", "file:"+path+"?mode=ro"+common)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	r.SetConnMaxLifetime(0)
	return &sqlite3Store{w: w, r: r}, nil
}

func (s *sqlite3Store) Get(ctx context.Context, id int64) (note, bool, error) {
	var n note
	err := s.r.QueryRowContext(ctx, "SELECT id, title, body, updated_at FROM notes WHERE id = ?", id).
		Scan(&n.ID, &n.Title, &n.Body, &n.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return note{}, false, nil
	}
	return n, err == nil, err
}

func (s *sqlite3Store) List(ctx context.Context, after int64, limit int) ([]note, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, title, body, updated_at FROM notes WHERE id > ? ORDER BY id LIMIT ?", after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]note, 0, limit)
	for rows.Next() {
		var n note
		if err := rows.Scan(&n.ID, &n.Title, &n.Body, &n.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (s *sqlite3Store) Create(ctx context.Context, title, body string) (int64, error) {
	res, err := s.w.ExecContext(ctx, "INSERT INTO notes(title, body, updated_at) VALUES (?, ?, ?)", title, body, time.Now().Unix())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (s *sqlite3Store) Update(ctx context.Context, id int64, title, body string) (bool, error) {
	res, err := s.w.ExecContext(ctx, "UPDATE notes SET title = ?, body = ?, updated_at = ? WHERE id = ?", title, body, time.Now().Unix(), id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (s *sqlite3Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM notes").Scan(&n)
	return n, err
}

func (s *sqlite3Store) Close() error { return errors.Join(s.w.Close(), s.r.Close()) }
