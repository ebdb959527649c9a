module github.com/singlewriter/singlewriter/bindings/go/internal/sqlxtest

go 1.26

require github.com/singlewriter/singlewriter/bindings/go v0.0.0

require github.com/jmoiron/sqlx v1.4.0

replace github.com/singlewriter/singlewriter/bindings/go => ../..
