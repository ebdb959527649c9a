// Command go-service is the notes API that benches/go-service/run.sh loads with wrk: net/http on
// loopback, a table of notes, GET /notes/{id}, GET /notes?after=N&limit=M, POST /notes and
// PUT /notes/{id}, written the way a Go programmer would write it, over one of these backends:
//
//	sqlite3  database/sql + mattn/go-sqlite3 the recommended way: a one-connection writer pool
//	         opened with _txlock=immediate and a read-only reader pool
//	sw       this library's Go binding with its defaults (Exec for writes, Query for reads)
//	swsql    this library's database/sql driver (sql.Open("singlewriter", ...)), used like sqlite3
//
// GET /debug/stats reports what the runner checks and records: rows in the table, POSTs
// acknowledged, errors, OS threads (the process's and the Go runtime's).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type note struct {
	ID        int64  `json:"id"`
	Title     string `json:"title"`
	Body      string `json:"body"`
	UpdatedAt int64  `json:"updated_at"`
}

// store is what the handlers need from a backend.
type store interface {
	Get(ctx context.Context, id int64) (note, bool, error)
	List(ctx context.Context, after int64, limit int) ([]note, error)
	Create(ctx context.Context, title, body string) (int64, error)
	Update(ctx context.Context, id int64, title, body string) (bool, error)
	Count(ctx context.Context) (int64, error)
	Close() error
}

var backends = map[string]func(path string) (store, error){}

const schema = `CREATE TABLE IF NOT EXISTS notes (
	id INTEGER PRIMARY KEY,
	title TEXT NOT NULL,
	body TEXT NOT NULL,
	updated_at INTEGER NOT NULL
)`

// seed fills an empty table with n notes through database/sql (any backend's file is a plain
// SQLite database).
func seed(db *sql.DB, n int) error {
	if _, err := db.Exec(schema); err != nil {
		return err
	}
	var have int
	if err := db.QueryRow("SELECT count(*) FROM notes").Scan(&have); err != nil {
		return err
	}
	if have > 0 {
		return nil
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	for i := 1; i <= n; i++ {
		if _, err := tx.Exec("INSERT INTO notes(id, title, body, updated_at) VALUES (?, ?, ?, ?)",
			i, fmt.Sprintf("note %d", i), strings.Repeat("lorem ipsum ", 12)+strconv.Itoa(i), now); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

type server struct {
	st       store
	postsOK  atomic.Int64
	errors   atomic.Int64
	requests atomic.Int64
	writing  atomic.Int64 // write handlers between reading the body and answering
}

func (s *server) fail(w http.ResponseWriter, err error) {
	s.errors.Add(1)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

type input struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /notes/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		n, ok, err := s.st.Get(r.Context(), id)
		if err != nil {
			s.fail(w, err)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, http.StatusOK, n)
	})
	mux.HandleFunc("GET /notes", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 100 {
			limit = 20
		}
		notes, err := s.st.List(r.Context(), after, limit)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, notes)
	})
	mux.HandleFunc("POST /notes", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		var in input
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Title == "" {
			http.Error(w, "bad note", http.StatusBadRequest)
			return
		}
		s.writing.Add(1)
		id, err := s.st.Create(r.Context(), in.Title, in.Body)
		if err != nil {
			s.writing.Add(-1)
			s.fail(w, err)
			return
		}
		s.postsOK.Add(1)
		s.writing.Add(-1)
		writeJSON(w, http.StatusCreated, map[string]int64{"id": id})
	})
	mux.HandleFunc("PUT /notes/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		var in input
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Title == "" {
			http.Error(w, "bad note", http.StatusBadRequest)
			return
		}
		ok, err := s.st.Update(r.Context(), id, in.Title, in.Body)
		if err != nil {
			s.fail(w, err)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, r *http.Request) {
		// wrk stops with requests in flight: let their writes finish before counting.
		for i := 0; i < 500 && s.writing.Load() > 0; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		posts := s.postsOK.Load()
		rows, err := s.st.Count(r.Context())
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int64{
			"rows":         rows,
			"posts_ok":     posts,
			"errors":       s.errors.Load(),
			"requests":     s.requests.Load(),
			"go_threads":   int64(pprof.Lookup("threadcreate").Count()),
			"proc_threads": procThreads(),
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// procThreads is the process's OS thread count (Go's Ms and the library's own threads).
func procThreads() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return -1
}

func main() {
	backend := flag.String("backend", "sqlite3", "sqlite3, sw or swsql")
	path := flag.String("db", "notes.db", "database file")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (loopback)")
	seedRows := flag.Int("seed", 10000, "rows to create when the table is empty")
	seedOnly := flag.Bool("seed-only", false, "create and seed the database, then exit")
	flag.Parse()

	if err := seedFile(*path, *seedRows); err != nil {
		log.Fatalf("seed: %v", err)
	}
	if *seedOnly {
		return
	}
	open, ok := backends[*backend]
	if !ok {
		log.Fatalf("unknown backend %q", *backend)
	}
	st, err := open(*path)
	if err != nil {
		log.Fatalf("open %s: %v", *backend, err)
	}
	s := &server{st: st}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	fmt.Printf("listening on %s (%s)\n", ln.Addr(), *backend)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	if err := st.Close(); err != nil {
		log.Fatalf("close: %v", err)
	}
}
