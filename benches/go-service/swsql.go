package main

import (
	"context"
	"database/sql"
	"errors"
	"time"

	singlewriter "github.com/singlewriter/singlewriter/bindings/go"
)

func init() { backends["swsql"] = openSWSQL }

// swsqlStore is this library's database/sql driver, used exactly like the go-sqlite3 store but
// with one sql.DB: the driver sends writes to the writer lane and reads to the read pool.
type swsqlStore struct {
	db *sql.DB
}

func openSWSQL(path string) (store, error) {
	db, err := sql.Open(singlewriter.DriverName, "Data Source="+path)
	if err != nil {
		return nil, err
	}
	db.SetMaxIdleConns(64)
	return &swsqlStore{db: db}, nil
}

func (s *swsqlStore) Get(ctx context.Context, id int64) (note, bool, error) {
	var n note
	err := s.db.QueryRowContext(ctx, "SELECT id, title, body, updated_at FROM notes WHERE id = ?", id).
		Scan(&n.ID, &n.Title, &n.Body, &n.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return note{}, false, nil
	}
	return n, err == nil, err
}

func (s *swsqlStore) List(ctx context.Context, after int64, limit int) ([]note, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, title, body, updated_at FROM notes WHERE id > ? ORDER BY id LIMIT ?", after, limit)
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

func (s *swsqlStore) Create(ctx context.Context, title, body string) (int64, error) {
	res, err := s.db.ExecContext(ctx, "INSERT INTO notes(title, body, updated_at) VALUES (?, ?, ?)", title, body, time.Now().Unix())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (s *swsqlStore) Update(ctx context.Context, id int64, title, body string) (bool, error) {
	res, err := s.db.ExecContext(ctx, "UPDATE notes SET title = ?, body = ?, updated_at = ? WHERE id = ?", title, body, time.Now().Unix(), id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (s *swsqlStore) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM notes").Scan(&n)
	return n, err
}

func (s *swsqlStore) Close() error { return s.db.Close() }
