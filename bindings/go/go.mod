module github.com/singlewriter/singlewriter/bindings/go

go 1.24
