module github.com/esrflow/esrflow/esr

go 1.26.0

require github.com/stretchr/testify v1.12.1

require (
	github.com/esrflow/esrflow/schemas v0.0.0
	go.yaml.in/yaml/v3 v3.0.5
)
