package singlewriter

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
)

// DriverName is the name this package registers with database/sql:
//
//	db, err := sql.Open("singlewriter", "Data Source=app.db")
//
// The data source name is a connection string as for [Open]. Every connection
// of the sql.DB is a view on one [Writer], so the pool's size does not matter
// for correctness: writes (ExecContext) from any connection go through the
// writer lane and are committed in groups; queries (QueryContext, QueryRow)
// run on the read-only pool; a statement that writes and returns rows
// (INSERT ... RETURNING) is run on the writer lane. db.Close closes the
// Writer.
//
// # Transactions
//
// BeginTx takes the writer lane: it returns once a transaction (BEGIN
// IMMEDIATE) holds the write connection, and holds it until Commit or Rollback.
// The statements of the sql.Tx run inside that transaction, one at a time, on
// a goroutine that the driver keeps in the transaction's callback, and see the
// transaction's own writes. Isolation is SERIALIZABLE whatever level is asked
// for (the single writer orders all transactions; reads outside the
// transaction see only committed data). While it is open no other write
// commits — writes from other goroutines wait — so keep transactions short,
// and never wait inside one for a write made outside it (db.Exec instead of
// tx.Exec on the same database from the same goroutine waits forever, as with
// any one-writer SQLite setup). A ReadOnly transaction also takes the lane (it
// is the only way to read a stable snapshot through this ABI) and refuses
// ExecContext; a query that writes (INSERT ... RETURNING) is not detected in
// it.
//
// # Values
//
// Arguments are converted by database/sql and bound as by [Writer.Exec]
// (sql.Named binds named parameters). Results arrive as int64, float64,
// string, []byte or nil, so sql.Null* types, sql.Scanner implementations and
// the usual conversions work. Column types are reported from the values
// (SQLite's storage classes): the ABI carries no declared types, so a
// timestamp stored as TEXT scans into a string (or a sql.Scanner), not into
// time.Time.
const DriverName = "singlewriter"

func init() { sql.Register(DriverName, &Driver{}) }

// Driver is the database/sql driver. Use it through sql.Open(DriverName, dsn)
// or sql.OpenDB(connector).
type Driver struct{}

// Open opens a connection with its own Writer handle (closed with the
// connection). database/sql uses OpenConnector instead, which shares one
// handle among all connections of a sql.DB.
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	w, err := Open(dsn)
	if err != nil {
		return nil, err
	}
	return &conn{w: w, owns: true}, nil
}

// OpenConnector opens the Writer that every connection of the sql.DB shares.
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) {
	w, err := Open(dsn)
	if err != nil {
		return nil, err
	}
	return &Connector{w: w, drv: d, owns: true}, nil
}

// Connector is a driver.Connector over one Writer. sql.DB.Close closes it.
type Connector struct {
	w    *Writer
	drv  *Driver
	owns bool // opened by OpenConnector: Close closes the Writer
}

// NewConnector returns a connector over an open Writer, for sql.OpenDB, so a
// program can use the same Writer directly and through database/sql. The
// Writer stays the caller's: closing the sql.DB does not close it.
func NewConnector(w *Writer) driver.Connector { return &Connector{w: w, drv: &Driver{}} }

// Connect returns a connection on the shared Writer.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	return &conn{w: c.w}, nil
}

// Driver returns the Driver.
func (c *Connector) Driver() driver.Driver { return c.drv }

// Close closes the Writer opened by OpenConnector (database/sql calls it from
// DB.Close). A connector from NewConnector leaves its Writer open.
func (c *Connector) Close() error {
	if !c.owns {
		return nil
	}
	return c.w.Close()
}

// conn is one database/sql connection: a view on the shared Writer, plus the
// transaction it is running, if any.
type conn struct {
	w    *Writer
	owns bool // from Driver.Open: the handle is this connection's
	tx   *connTx
}

var (
	_ driver.ConnBeginTx            = (*conn)(nil)
	_ driver.ConnPrepareContext     = (*conn)(nil)
	_ driver.ExecerContext          = (*conn)(nil)
	_ driver.QueryerContext         = (*conn)(nil)
	_ driver.Pinger                 = (*conn)(nil)
	_ driver.SessionResetter        = (*conn)(nil)
	_ driver.Validator              = (*conn)(nil)
	_ driver.RowsColumnTypeScanType = (*driverRows)(nil)
)

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext returns a statement that remembers its SQL; the library
// prepares and caches statements itself on each connection that runs them.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return &stmt{c: c, query: query}, nil
}

func (c *conn) Close() error {
	var err error
	if c.tx != nil {
		if err = c.tx.finish(false); errors.Is(err, sql.ErrTxDone) {
			err = nil
		}
	}
	if c.owns {
		err = errors.Join(err, c.w.Close())
	}
	return err
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) Ping(ctx context.Context) error {
	_, err := c.w.Stats()
	return err
}

func (c *conn) ResetSession(ctx context.Context) error { return nil }

func (c *conn) IsValid() bool { return c.w.h.state.Load()&closedBit == 0 }

func bindArgs(named []driver.NamedValue) []any {
	args := make([]any, len(named))
	for i, nv := range named {
		if nv.Name != "" {
			args[i] = NamedArg{Name: nv.Name, Value: nv.Value}
		} else {
			args[i] = nv.Value
		}
	}
	return args
}

func (c *conn) ExecContext(ctx context.Context, query string, named []driver.NamedValue) (driver.Result, error) {
	args := bindArgs(named)
	if c.tx != nil {
		return c.tx.exec(query, args)
	}
	r, err := c.w.Exec(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return driverResult{r}, nil
}

func (c *conn) QueryContext(ctx context.Context, query string, named []driver.NamedValue) (driver.Rows, error) {
	args := bindArgs(named)
	if c.tx != nil {
		return c.tx.query(query, args)
	}
	rows, err := c.w.Query(ctx, query, args...)
	if errors.Is(err, ErrReadOnly) {
		// A statement that writes and returns rows (INSERT ... RETURNING):
		// run it on the writer lane, in a transaction of its own.
		rows, err = TxValue(ctx, c.w, func(tx *Tx) (*Rows, error) { return tx.Query(query, args...) })
	}
	if err != nil {
		return nil, err
	}
	return &driverRows{r: rows}, nil
}

// driverResult is a write's Result for database/sql.
type driverResult struct{ r Result }

func (d driverResult) LastInsertId() (int64, error) { return d.r.LastInsertID, nil }
func (d driverResult) RowsAffected() (int64, error) { return d.r.RowsAffected, nil }

// stmt is a prepared statement: its SQL, run through its connection.
type stmt struct {
	c     *conn
	query string
}

var (
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 } // SQLite checks the parameters

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), valuesToNamed(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), valuesToNamed(args))
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

func valuesToNamed(args []driver.Value) []driver.NamedValue {
	named := make([]driver.NamedValue, len(args))
	for i, v := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return named
}

// driverRows hands a copied result set to database/sql.
type driverRows struct {
	r   *Rows
	pos int
}

func (d *driverRows) Columns() []string { return d.r.cols }
func (d *driverRows) Close() error      { return nil }

func (d *driverRows) Next(dest []driver.Value) error {
	if d.pos >= d.r.n {
		return io.EOF
	}
	for i, v := range d.r.Row(d.pos) {
		dest[i] = v
	}
	d.pos++
	return nil
}

// ColumnTypeScanType is the Go type of the column's first non-NULL value
// (any when every value is NULL): SQLite's storage class, not a declared type.
func (d *driverRows) ColumnTypeScanType(i int) reflect.Type {
	for row := 0; row < d.r.n; row++ {
		if v := d.r.Value(row, i); v != nil {
			return reflect.TypeOf(v)
		}
	}
	return reflect.TypeOf((*any)(nil)).Elem()
}

// ColumnTypeDatabaseTypeName is the storage class of the column's first
// non-NULL value: INTEGER, REAL, TEXT or BLOB ("" when every value is NULL).
func (d *driverRows) ColumnTypeDatabaseTypeName(i int) string {
	for row := 0; row < d.r.n; row++ {
		switch d.r.Value(row, i).(type) {
		case int64:
			return "INTEGER"
		case float64:
			return "REAL"
		case string:
			return "TEXT"
		case []byte:
			return "BLOB"
		}
	}
	return ""
}

// connTx is a database/sql transaction: a goroutine inside Writer.Tx that
// runs the statements sent to it until Commit or Rollback.
type connTx struct {
	c        *conn
	readOnly bool
	reqs     chan txReq
	done     chan error // the Writer.Tx outcome, once
	mu       sync.Mutex
	finished bool
}

type txReq struct {
	query  string
	args   []any
	rows   bool // a query (else an exec)
	end    bool // commit (or roll back when !commit)
	commit bool
	reply  chan txReply
}

type txReply struct {
	res  Result
	rows *Rows
	err  error
}

// errRolledBack is what the transaction's function returns to roll back.
var errRolledBack = errors.New("singlewriter: transaction rolled back by the caller")

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.tx != nil {
		return nil, bindingError(StatusMisuse, "begin", "a transaction is already open on this connection")
	}
	t := &connTx{c: c, readOnly: opts.ReadOnly, reqs: make(chan txReq), done: make(chan error, 1)}
	started := make(chan struct{})
	go func() {
		t.done <- c.w.Tx(ctx, func(tx *Tx) error {
			close(started)
			for req := range t.reqs {
				if req.end {
					if req.commit {
						return nil
					}
					return errRolledBack
				}
				var rep txReply
				if req.rows {
					rep.rows, rep.err = tx.Query(req.query, req.args...)
				} else {
					rep.res, rep.err = tx.Exec(req.query, req.args...)
				}
				req.reply <- rep
			}
			return errRolledBack
		})
	}()
	select {
	case <-started:
		c.tx = t
		return t, nil
	case err := <-t.done:
		return nil, err
	}
}

func (t *connTx) send(req txReq) txReply {
	req.reply = make(chan txReply, 1)
	t.reqs <- req
	return <-req.reply
}

func (t *connTx) exec(query string, args []any) (driver.Result, error) {
	if t.readOnly {
		return nil, bindingError(StatusReadOnly, "tx exec", "a write in a read-only transaction")
	}
	rep := t.send(txReq{query: query, args: args})
	if rep.err != nil {
		return nil, rep.err
	}
	return driverResult{rep.res}, nil
}

func (t *connTx) query(query string, args []any) (driver.Rows, error) {
	rep := t.send(txReq{query: query, args: args, rows: true})
	if rep.err != nil {
		return nil, rep.err
	}
	return &driverRows{r: rep.rows}, nil
}

// finish ends the transaction once: commit or roll back, and wait for it.
// Later calls return sql.ErrTxDone.
func (t *connTx) finish(commit bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return sql.ErrTxDone
	}
	t.finished = true
	t.reqs <- txReq{end: true, commit: commit}
	err := <-t.done
	if errors.Is(err, errRolledBack) {
		err = nil
	}
	t.c.tx = nil
	return err
}

func (t *connTx) Commit() error   { return t.finish(true) }
func (t *connTx) Rollback() error { return t.finish(false) }

// String helps debugging: which SQL the statement carries.
func (s *stmt) String() string { return fmt.Sprintf("singlewriter stmt %q", s.query) }
