module github.com/singlewriter/singlewriter/benches/go-service

go 1.26

require github.com/singlewriter/singlewriter/bindings/go v0.0.0

require github.com/mattn/go-sqlite3 v1.14.53

replace github.com/singlewriter/singlewriter/bindings/go => ../../bindings/go
