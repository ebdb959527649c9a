package main

import (
	"context"
	"time"

	singlewriter "github.com/singlewriter/singlewriter/bindings/go"
)

func init() { backends["sw"] = openSW }

// swStore uses the binding directly, with its defaults: Exec for writes, Query for reads.
type swStore struct {
	w *singlewriter.Writer
}

func openSW(path string) (store, error) {
	w, err := singlewriter.Open("Data Source=" + path)
	if err != nil {
		return nil, err
	}
	return &swStore{w: w}, nil
}

func (s *swStore) Get(ctx context.Context, id int64) (note, bool, error) {
	rows, err := s.w.Query(ctx, "SELECT id, title, body, updated_at FROM notes WHERE id = ?1", id)
	if err != nil {
		return note{}, false, err
	}
	if !rows.Next() {
		return note{}, false, nil
	}
	var n note
	err = rows.Scan(&n.ID, &n.Title, &n.Body, &n.UpdatedAt)
	return n, err == nil, err
}

func (s *swStore) List(ctx context.Context, after int64, limit int) ([]note, error) {
	rows, err := s.w.Query(ctx, "SELECT id, title, body, updated_at FROM notes WHERE id > ?1 ORDER BY id LIMIT ?2", after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]note, 0, rows.Len())
	for rows.Next() {
		var n note
		if err := rows.Scan(&n.ID, &n.Title, &n.Body, &n.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (s *swStore) Create(ctx context.Context, title, body string) (int64, error) {
	res, err := s.w.Exec(ctx, "INSERT INTO notes(title, body, updated_at) VALUES (?1, ?2, ?3)", title, body, time.Now().Unix())
	return res.LastInsertID, err
}

func (s *swStore) Update(ctx context.Context, id int64, title, body string) (bool, error) {
	res, err := s.w.Exec(ctx, "UPDATE notes SET title = ?1, body = ?2, updated_at = ?3 WHERE id = ?4", title, body, time.Now().Unix(), id)
	return res.RowsAffected > 0, err
}

func (s *swStore) Count(ctx context.Context) (int64, error) {
	rows, err := s.w.Query(ctx, "SELECT count(*) FROM notes")
	if err != nil {
		return 0, err
	}
	var n int64
	rows.Next()
	err = rows.Scan(&n)
	return n, err
}

func (s *swStore) Close() error { return s.w.Close() }
