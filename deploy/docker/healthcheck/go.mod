module github.com/esrflow/esrflow/deploy/docker/healthcheck

go 1.26.0
